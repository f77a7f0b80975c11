// Package notifytest runs a real SMTP server (emersion/go-smtp) for tests
// that follow an email from a playbook or a survey to its reader: it keeps
// every message with its parts decoded.
package notifytest

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/moments-cs/moments/internal/notify"
)

// Message is one received email with its headers and its parts decoded
// (content type → text).
type Message struct {
	To      []string
	Header  netmail.Header
	Subject string
	Parts   map[string]string
}

// Text is the message's text/plain part.
func (m Message) Text() string { return m.Parts["text/plain"] }

// MailServer is a real SMTP server on a loopback port.
type MailServer struct {
	Host string
	Port int
	// Received, when set, is called with each message before the server
	// accepts it (before the sender's mailer returns): a reader who acts
	// on an email before its sender has recorded sending it.
	Received func(Message)
	mu       sync.Mutex
	msgs     []Message
}

// Start starts a server that stops when the test ends.
func Start(t testing.TB) *MailServer {
	t.Helper()
	s := &MailServer{Host: "127.0.0.1"}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.Port = l.Addr().(*net.TCPAddr).Port
	return s
}

// Config is the mailer configuration that delivers to this server.
func (s *MailServer) Config() notify.SMTPConfig {
	return notify.SMTPConfig{Host: s.Host, Port: s.Port, From: "Vendor CS <cs@vendor.example>", TLS: notify.TLSNone,
		Timeout: 5 * time.Second}
}

// Messages returns what the server received, oldest first.
func (s *MailServer) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait returns the messages once there are at least n, or fails the test
// after timeout.
func (s *MailServer) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := s.Messages()
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("expected %d emails within %s, received %d", n, timeout, len(msgs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// NewSession implements smtp.Backend.
func (s *MailServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }

type session struct {
	s  *MailServer
	to []string
}

func (m *session) Mail(string, *smtp.MailOptions) error { return nil }
func (m *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	m.to = append(m.to, to)
	return nil
}
func (m *session) Reset()        { m.to = nil }
func (m *session) Logout() error { return nil }

func (m *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := parse(raw)
	if err != nil {
		return err
	}
	msg.To = m.to
	m.s.mu.Lock()
	m.s.msgs = append(m.s.msgs, msg)
	m.s.mu.Unlock()
	if m.s.Received != nil {
		m.s.Received(msg)
	}
	return nil
}

func parse(raw []byte) (Message, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	out := Message{Header: msg.Header, Parts: map[string]string{}}
	out.Subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return out, err
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		return out, parts(multipart.NewReader(msg.Body, params["boundary"]), out.Parts)
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	out.Parts[mediaType] = string(b)
	return out, err
}

// parts reads every part of a multipart body, nested ones included.
func parts(r *multipart.Reader, into map[string]string) error {
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		t, params, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if strings.HasPrefix(t, "multipart/") {
			if err := parts(multipart.NewReader(p, params["boundary"]), into); err != nil {
				return err
			}
			continue
		}
		b, err := io.ReadAll(p) // quoted-printable is decoded by the reader
		if err != nil {
			return err
		}
		into[t] = string(b)
	}
}
