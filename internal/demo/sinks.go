package demo

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/moments-cs/moments/examples"
	"github.com/moments-cs/moments/internal/notify"
)

// Sinks receive what the demo's playbooks send — email over SMTP, webhooks
// over HTTP — on this machine, so that every playbook step completes and
// nothing leaves it. They count what they receive and keep nothing.
type Sinks struct {
	smtp     *smtp.Server
	smtpPort int
	http     *http.Server
	hookURL  string
	emails   atomic.Int64
	webhooks atomic.Int64
	// surveys receives the survey emails' score links (see answers.go).
	surveys chan surveyEmail
}

// exampleHooks is where the example map's webhooks point (a Slack-like
// address that does not exist).
const exampleHooks = "https://hooks.slack.example/"

// StartSinks starts both sinks on loopback ports.
func StartSinks() (*Sinks, error) {
	s := &Sinks{surveys: make(chan surveyEmail, maxPendingSurveys)}
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.smtp = smtp.NewServer(mailBackend{s})
	s.smtp.Domain = "localhost"
	s.smtp.ReadTimeout, s.smtp.WriteTimeout = 30*time.Second, 30*time.Second
	s.smtp.MaxMessageBytes = 1 << 20
	s.smtpPort = ml.Addr().(*net.TCPAddr).Port
	go func() { _ = s.smtp.Serve(ml) }()

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.smtp.Close()
		return nil, err
	}
	s.http = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		s.webhooks.Add(1)
		w.WriteHeader(http.StatusOK)
	})}
	s.hookURL = "http://" + hl.Addr().String() + "/"
	go func() { _ = s.http.Serve(hl) }()
	return s, nil
}

// Close stops both sinks.
func (s *Sinks) Close() error {
	return errors.Join(s.smtp.Close(), s.http.Close())
}

// SMTP is the mail server configuration that delivers to the sink.
func (s *Sinks) SMTP() notify.SMTPConfig {
	return notify.SMTPConfig{
		Host: "127.0.0.1", Port: s.smtpPort, TLS: notify.TLSNone,
		From: "Northwind Customer Success <cs@northwind.example>", Timeout: 10 * time.Second,
	}
}

// Webhook is the webhook configuration that lets playbooks reach the
// sink, which listens on loopback: webhooks reach loopback only when
// allowed.
func (s *Sinks) Webhook() notify.SenderConfig {
	return notify.SenderConfig{Allow: []string{"127.0.0.1/32"}}
}

// Emails and Webhooks count what the sinks received.
func (s *Sinks) Emails() int64   { return s.emails.Load() }
func (s *Sinks) Webhooks() int64 { return s.webhooks.Load() }

// Map returns the example journey map (examples/b2b-saas.yaml) with its
// webhooks pointed at the webhook sink instead of an address that does not
// exist; nothing else changes.
func (s *Sinks) Map() []byte {
	return bytes.ReplaceAll(examples.B2BSaaS, []byte(exampleHooks), []byte(s.hookURL))
}

type mailBackend struct{ s *Sinks }

func (b mailBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{s: b.s}, nil }

type mailSession struct{ s *Sinks }

func (m *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (m *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (m *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return err
	}
	m.s.emails.Add(1)
	if e, ok := parseSurveyEmail(raw); ok {
		select {
		case m.s.surveys <- e:
		default: // nobody is answering fast enough; this one goes unanswered
		}
	}
	return nil
}
func (m *mailSession) Reset()        {}
func (m *mailSession) Logout() error { return nil }
