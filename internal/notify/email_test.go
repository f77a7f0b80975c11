package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// receivedMail is one message as the test SMTP server received it.
type receivedMail struct {
	User string
	From string
	To   []string
	Data []byte
}

// mailServer is a real SMTP server (emersion/go-smtp) that keeps what it
// receives in memory.
type mailServer struct {
	Host string
	Port int

	mu     sync.Mutex
	mails  []receivedMail
	users  map[string]string
	refuse string // a recipient the server answers 550
}

func (s *mailServer) received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.mails...)
}

func (s *mailServer) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &mailSession{server: s}, nil
}

type mailSession struct {
	server *mailServer
	user   string
	from   string
	to     []string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if want, ok := s.server.users[username]; !ok || want != password {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if len(s.server.users) > 0 && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == s.server.refuse {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.server.mu.Lock()
	s.server.mails = append(s.server.mails, receivedMail{User: s.user, From: s.from, To: s.to, Data: data})
	s.server.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

// serverTLS says how the test server speaks TLS.
type serverTLS int

const (
	plainServer serverTLS = iota
	startTLSServer
	implicitTLSServer
)

// startMailServer starts an SMTP server on a loopback port for the test.
func startMailServer(t *testing.T, mode serverTLS) *mailServer {
	t.Helper()
	backend := &mailServer{users: map[string]string{"csops": "s3cret"}, refuse: "nobody@customer.example"}
	srv := smtp.NewServer(backend)
	srv.Domain = "localhost"
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	// AUTH PLAIN without TLS, as a local relay would allow.
	srv.AllowInsecureAuth = true

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	switch mode {
	case startTLSServer:
		srv.TLSConfig = selfSignedTLS(t)
	case implicitTLSServer:
		l = tls.NewListener(l, selfSignedTLS(t))
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	addr := l.Addr().(*net.TCPAddr)
	backend.Host, backend.Port = "127.0.0.1", addr.Port
	return backend
}

// selfSignedTLS makes a certificate for 127.0.0.1 that no client trusts.
func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "moments test smtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func testSMTPConfig(srv *mailServer, tlsMode string) SMTPConfig {
	return SMTPConfig{
		Host:     srv.Host,
		Port:     srv.Port,
		Username: "csops",
		Password: "s3cret",
		From:     "Acme Customer Success <cs@acme.example>",
		TLS:      tlsMode,
		Timeout:  5 * time.Second,
	}
}

func testEmail() Email {
	return Email{
		To:        Address{Name: "Zoë Champion", Email: "zoe@customer.example"},
		ReplyTo:   Address{Name: "Casey CSM", Email: "casey@acme.example"},
		Subject:   "Welcome aboard, Customer Inc — your kickoff",
		Text:      "Hi Zoë,\n\nWelcome to Acme.\n",
		HTML:      "<p>Hi Zoë,</p><p>Welcome to Acme.</p>",
		MessageID: "run-42.step-3",
		Headers:   map[string]string{"X-Moments-Run": "run-42"},
	}
}

// parsedMail is a received message with its headers decoded.
type parsedMail struct {
	Header netmail.Header
	Parts  map[string]string // content type → decoded body
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	out := parsedMail{Header: msg.Header, Parts: map[string]string{}}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	if strings.HasPrefix(mediaType, "multipart/") {
		r := multipart.NewReader(msg.Body, params["boundary"])
		for {
			part, err := r.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			body, err := io.ReadAll(part) // quoted-printable is decoded by the reader
			require.NoError(t, err)
			partType, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
			out.Parts[partType] = string(body)
		}
		return out
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	raw, err := io.ReadAll(body)
	require.NoError(t, err)
	out.Parts[mediaType] = string(raw)
	return out
}

func decodeHeader(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	require.NoError(t, err)
	return s
}

func TestMailerSend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		serverMode serverTLS
		tlsMode    string
		skipVerify bool
	}{
		{name: "plain with auth on localhost", serverMode: plainServer, tlsMode: TLSNone},
		{name: "starttls", serverMode: startTLSServer, tlsMode: TLSStartTLS, skipVerify: true},
		{name: "implicit tls", serverMode: implicitTLSServer, tlsMode: TLSImplicit, skipVerify: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startMailServer(t, tt.serverMode)
			cfg := testSMTPConfig(srv, tt.tlsMode)
			cfg.InsecureSkipVerify = tt.skipVerify
			mailer, err := NewMailer(cfg)
			require.NoError(t, err)

			sent, err := mailer.Send(context.Background(), testEmail())
			require.NoError(t, err)
			require.Equal(t, "<run-42.step-3@acme.example>", sent.MessageID)
			require.NotZero(t, sent.SentAt)

			mails := srv.received()
			require.Len(t, mails, 1)
			got := mails[0]
			require.Equal(t, "csops", got.User)
			require.Equal(t, "cs@acme.example", got.From)
			require.Equal(t, []string{"zoe@customer.example"}, got.To)

			m := parseMail(t, got.Data)
			require.Equal(t, "<run-42.step-3@acme.example>", m.Header.Get("Message-Id"))
			require.Equal(t, "Welcome aboard, Customer Inc — your kickoff", decodeHeader(t, m.Header.Get("Subject")))
			to, err := netmail.ParseAddress(m.Header.Get("To"))
			require.NoError(t, err)
			require.Equal(t, netmail.Address{Name: "Zoë Champion", Address: "zoe@customer.example"}, *to)
			from, err := netmail.ParseAddress(m.Header.Get("From"))
			require.NoError(t, err)
			require.Equal(t, netmail.Address{Name: "Acme Customer Success", Address: "cs@acme.example"}, *from)
			replyTo, err := netmail.ParseAddress(m.Header.Get("Reply-To"))
			require.NoError(t, err)
			require.Equal(t, "casey@acme.example", replyTo.Address)
			require.Equal(t, "run-42", m.Header.Get("X-Moments-Run"))
			require.NotEmpty(t, m.Header.Get("Date"))

			require.Equal(t, "Hi Zoë,\r\n\r\nWelcome to Acme.\r\n", m.Parts["text/plain"])
			require.Equal(t, "<p>Hi Zoë,</p><p>Welcome to Acme.</p>", m.Parts["text/html"])
		})
	}
}

func TestMailerSendSameMessageIDOnResend(t *testing.T) {
	t.Parallel()
	srv := startMailServer(t, plainServer)
	mailer, err := NewMailer(testSMTPConfig(srv, TLSNone))
	require.NoError(t, err)

	email := testEmail()
	email.MessageID = "<run-7.step-1@moments.acme.example>"
	for range 2 {
		_, err := mailer.Send(context.Background(), email)
		require.NoError(t, err)
	}
	mails := srv.received()
	require.Len(t, mails, 2)
	for _, m := range mails {
		require.Equal(t, "<run-7.step-1@moments.acme.example>", parseMail(t, m.Data).Header.Get("Message-Id"))
	}
}

func TestMailerSendTextOnly(t *testing.T) {
	t.Parallel()
	srv := startMailServer(t, plainServer)
	mailer, err := NewMailer(testSMTPConfig(srv, TLSNone))
	require.NoError(t, err)

	email := testEmail()
	email.HTML = ""
	email.MessageID = ""
	sent, err := mailer.Send(context.Background(), email)
	require.NoError(t, err)
	require.Regexp(t, `^<.+@.+>$`, sent.MessageID, "a random Message-ID when none is given")

	m := parseMail(t, srv.received()[0].Data)
	require.Equal(t, sent.MessageID, m.Header.Get("Message-Id"))
	require.Equal(t, "Hi Zoë,\r\n\r\nWelcome to Acme.\r\n", m.Parts["text/plain"])
}

func TestMailerSendErrors(t *testing.T) {
	t.Parallel()
	srv := startMailServer(t, plainServer)
	tlsSrv := startMailServer(t, startTLSServer)

	// A port that nothing listens on: listen, note the port, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())

	tests := []struct {
		name      string
		cfg       func() SMTPConfig
		email     func() Email
		stage     Stage
		code      int
		temporary bool
		contains  []string
	}{
		{
			name: "connection refused",
			cfg: func() SMTPConfig {
				c := testSMTPConfig(srv, TLSNone)
				c.Port = closedPort
				return c
			},
			stage: StageConnect, temporary: true,
			contains: []string{"127.0.0.1:" + strconv.Itoa(closedPort), "connection refused", "check the smtp host and port"},
		},
		{
			name: "wrong password",
			cfg: func() SMTPConfig {
				c := testSMTPConfig(srv, TLSNone)
				c.Password = "wrong"
				return c
			},
			stage: StageAuth, code: 535,
			contains: []string{"rejected the username or password", `"csops"`, "check the smtp username and password"},
		},
		{
			name:  "recipient refused",
			cfg:   func() SMTPConfig { return testSMTPConfig(srv, TLSNone) },
			email: func() Email { e := testEmail(); e.To.Email = "nobody@customer.example"; return e },
			stage: StageRecipient, code: 550,
			contains: []string{"refused the recipient nobody@customer.example", "550", "No such user here"},
		},
		{
			name: "no login where the server requires one",
			cfg: func() SMTPConfig {
				c := testSMTPConfig(srv, TLSNone)
				c.Username, c.Password = "", ""
				return c
			},
			stage: StageSender, code: 502,
			contains: []string{"refused the sender address cs@acme.example", "Please authenticate first"},
		},
		{
			name:     "untrusted certificate",
			cfg:      func() SMTPConfig { return testSMTPConfig(tlsSrv, TLSStartTLS) },
			stage:    StageTLS,
			contains: []string{"presented a certificate that is not trusted", "insecure_skip_verify"},
		},
		{
			name:     "starttls not offered",
			cfg:      func() SMTPConfig { return testSMTPConfig(srv, TLSStartTLS) },
			stage:    StageTLS,
			contains: []string{"does not offer STARTTLS", "set smtp tls to tls"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mailer, err := NewMailer(tt.cfg())
			require.NoError(t, err)
			email := testEmail()
			if tt.email != nil {
				email = tt.email()
			}
			_, err = mailer.Send(context.Background(), email)
			require.Error(t, err)
			t.Log(err) // what an operator reads in the run history
			var ee *EmailError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, tt.stage, ee.Stage, err.Error())
			require.Equal(t, tt.code, ee.Code, err.Error())
			require.Equal(t, tt.temporary, ee.Temporary, err.Error())
			for _, s := range tt.contains {
				require.Contains(t, err.Error(), s)
			}
			require.NotContains(t, err.Error(), "s3cret", "the password never appears in an error")
		})
	}
}

func TestMailerSendHonoursContextDeadline(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never says hello.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = conn.Close() })
		}
	}()

	mailer, err := NewMailer(SMTPConfig{
		Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, TLS: TLSNone,
		From: "cs@acme.example", Timeout: time.Minute,
	})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = mailer.Send(ctx, testEmail())
	require.Error(t, err)
	require.Less(t, time.Since(start), 3*time.Second, "the context's deadline wins over the one-minute timeout")
	var ee *EmailError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, StageConnect, ee.Stage)
	require.True(t, ee.Temporary)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	t.Log(err)
}

func TestMailerSendRejectsBadEmail(t *testing.T) {
	t.Parallel()
	mailer, err := NewMailer(SMTPConfig{Host: "127.0.0.1", TLS: TLSNone, From: "cs@acme.example"})
	require.NoError(t, err)

	tests := []struct {
		name     string
		edit     func(*Email)
		contains string
	}{
		{name: "bad recipient", edit: func(e *Email) { e.To.Email = "not an address" }, contains: "not a valid email address"},
		{name: "no body", edit: func(e *Email) { e.Text, e.HTML = "", "" }, contains: "has no body"},
		{name: "bad message id", edit: func(e *Email) { e.MessageID = "run 42" }, contains: "message id"},
		{name: "reserved header", edit: func(e *Email) { e.Headers = map[string]string{"subject": "x"} }, contains: "cannot be overridden"},
		{name: "header injection", edit: func(e *Email) { e.Headers = map[string]string{"X-Moments-Run": "1\r\nBcc: x@evil.example"} }, contains: "line break"},
		{name: "bad header name", edit: func(e *Email) { e.Headers = map[string]string{"X Run": "1"} }, contains: "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			email := testEmail()
			tt.edit(&email)
			// Nothing listens on port 25 here: these must fail before connecting.
			_, err := mailer.Send(context.Background(), email)
			require.ErrorContains(t, err, tt.contains)
			var ee *EmailError
			require.False(t, errors.As(err, &ee), "refused before any connection")
		})
	}
}

func TestSMTPConfigValidate(t *testing.T) {
	t.Parallel()
	valid := SMTPConfig{Host: "smtp.acme.example", Username: "u", Password: "p", From: "cs@acme.example"}
	tests := []struct {
		name     string
		edit     func(*SMTPConfig)
		contains string // empty: valid
	}{
		{name: "defaults", edit: func(*SMTPConfig) {}},
		{name: "no host", edit: func(c *SMTPConfig) { c.Host = "" }, contains: "smtp host is empty"},
		{name: "host with port", edit: func(c *SMTPConfig) { c.Host = "smtp.acme.example:587" }, contains: "includes a port"},
		{name: "host is a url", edit: func(c *SMTPConfig) { c.Host = "smtp://smtp.acme.example" }, contains: "not a host name"},
		{name: "port out of range", edit: func(c *SMTPConfig) { c.Port = 70000 }, contains: "out of range"},
		{name: "unknown tls", edit: func(c *SMTPConfig) { c.TLS = "ssl" }, contains: "not one of none, starttls, tls"},
		{name: "no from", edit: func(c *SMTPConfig) { c.From = "" }, contains: "smtp from is empty"},
		{name: "bad from", edit: func(c *SMTPConfig) { c.From = "customer success" }, contains: "not an email address"},
		{name: "password without user", edit: func(c *SMTPConfig) { c.Username = "" }, contains: "without a username"},
		{name: "negative timeout", edit: func(c *SMTPConfig) { c.Timeout = -time.Second }, contains: "negative"},
		{name: "clear-text password over the network", edit: func(c *SMTPConfig) { c.TLS = TLSNone }, contains: "unencrypted"},
		{name: "clear-text password to localhost", edit: func(c *SMTPConfig) { c.TLS, c.Host = TLSNone, "localhost" }},
		{name: "no login without tls", edit: func(c *SMTPConfig) { c.TLS, c.Username, c.Password = TLSNone, "", "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tt.edit(&cfg)
			err := cfg.Validate()
			if tt.contains == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.contains)
		})
	}
}

func TestSMTPConfigDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tls  string
		port int
	}{
		{tls: "", port: 587},
		{tls: TLSStartTLS, port: 587},
		{tls: TLSImplicit, port: 465},
		{tls: TLSNone, port: 25},
	}
	for _, tt := range tests {
		cfg := SMTPConfig{TLS: tt.tls}.withDefaults()
		require.Equal(t, tt.port, cfg.Port, tt.tls)
		require.Equal(t, DefaultSMTPTimeout, cfg.Timeout)
		require.NotEmpty(t, cfg.TLS)
	}
}
