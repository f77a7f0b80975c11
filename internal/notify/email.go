package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mail "github.com/wneessen/go-mail"
	mailsmtp "github.com/wneessen/go-mail/smtp"
)

// TLS modes for SMTPConfig.TLS.
const (
	// TLSNone sends in clear text. Only for a relay on the same host or a
	// trusted network; credentials are refused unless the host is localhost.
	TLSNone = "none"
	// TLSStartTLS connects in clear text and upgrades with STARTTLS, which
	// the server must offer (port 587, "submission").
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465, "submissions").
	TLSImplicit = "tls"
)

// DefaultSMTPTimeout bounds one whole send (connect, TLS, login and
// transfer) when SMTPConfig.Timeout is zero. Generous, because some
// receiving servers stall new connections on purpose (tarpitting).
const DefaultSMTPTimeout = 30 * time.Second

// SMTPConfig says how Moments reaches its outgoing mail server. The zero
// values of Port, TLS and Timeout mean their defaults.
type SMTPConfig struct {
	// Host is the mail server's host name or IP address, without a port.
	Host string
	// Port defaults by TLS mode: 25 for none, 587 for starttls, 465 for tls.
	Port int
	// Username and Password log in with AUTH PLAIN or LOGIN when Username is
	// set; both empty sends without logging in.
	Username, Password string
	// From is the sender, e.g. "Acme Customer Success <cs@acme.example>". It
	// is also the envelope sender that receives bounces.
	From string
	// TLS is "none", "starttls" (the default) or "tls" (implicit TLS).
	TLS string
	// InsecureSkipVerify accepts any server certificate. Only for a test
	// server with a self-signed certificate: it lets anyone on the path read
	// the password.
	InsecureSkipVerify bool
	// Timeout bounds one whole send; DefaultSMTPTimeout when zero. A shorter
	// deadline on the context of Send wins.
	Timeout time.Duration
}

// withDefaults returns the configuration with every zero value replaced by
// its documented default.
func (c SMTPConfig) withDefaults() SMTPConfig {
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	if c.Port == 0 {
		switch c.TLS {
		case TLSNone:
			c.Port = 25
		case TLSImplicit:
			c.Port = 465
		default:
			c.Port = 587
		}
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultSMTPTimeout
	}
	return c
}

// Validate reports the first setting that would keep email from being sent,
// in words an operator can act on. Zero values that have defaults are valid.
func (c SMTPConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case strings.TrimSpace(c.Host) == "":
		return errors.New("smtp host is empty: set it to your mail server, e.g. smtp.example.com")
	case strings.ContainsAny(c.Host, "/ "):
		return fmt.Errorf("smtp host %q is not a host name: give only the name, e.g. smtp.example.com", c.Host)
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("smtp port %d is out of range: use 587 for starttls, 465 for tls or 25 for none", c.Port)
	case c.Timeout < 0:
		return fmt.Errorf("smtp timeout %s is negative", c.Timeout)
	}
	if _, _, err := net.SplitHostPort(c.Host); err == nil {
		return fmt.Errorf("smtp host %q includes a port: put the port in the smtp port setting", c.Host)
	}
	switch c.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return fmt.Errorf("smtp tls %q is not one of none, starttls, tls", c.TLS)
	}
	if c.From == "" {
		return errors.New("smtp from is empty: set the sender address, e.g. Customer Success <cs@example.com>")
	}
	if _, err := netmail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("smtp from %q is not an email address: %v", c.From, err)
	}
	if c.Username == "" && c.Password != "" {
		return errors.New("smtp password is set without a username")
	}
	// The SMTP library refuses to send a password in clear text to any host
	// but localhost; saying so here turns a failure at the first send into
	// one at start-up.
	if c.Username != "" && c.TLS == TLSNone && !isLocalSMTPHost(c.Host) {
		return fmt.Errorf("smtp tls is none but a username is set: the password would cross the network unencrypted; use starttls or tls with %s", c.Host)
	}
	return nil
}

// isLocalSMTPHost matches the hosts to which go-mail's PLAIN and LOGIN
// mechanisms agree to send a password without TLS.
func isLocalSMTPHost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Address is an email address with an optional display name.
type Address struct {
	Name  string
	Email string
}

// Email is one message to one contact.
type Email struct {
	To Address
	// ReplyTo, when set, receives the contact's reply instead of From, e.g.
	// the account's CSM.
	ReplyTo Address
	Subject string
	// Text is the plain-text body. HTML, when set, is sent as the preferred
	// alternative; at least one of them is required.
	Text string
	HTML string
	// MessageID is the stable identity of this message, e.g. derived from run
	// and step ids, so that a send repeated after a restart carries the same
	// Message-ID and the receiver or an operator can tell it is a duplicate.
	// Angle brackets are optional; without an "@" the domain of From is
	// appended. Empty means a random id, for messages outside playbooks.
	MessageID string
	// Headers are extra headers such as X-Moments-Run. They may not replace
	// the headers this package sets (From, To, Subject, Message-ID, …).
	Headers map[string]string
}

// SentEmail records what the mail server accepted.
type SentEmail struct {
	// MessageID is the Message-ID header as sent, with angle brackets.
	MessageID string
	// To is the recipient's address.
	To string
	// ServerReply is the server's answer to the message, which often holds
	// its queue id (e.g. "2.0.0 Ok: queued as 4F3A1").
	ServerReply string
	// SentAt is when the server accepted the message.
	SentAt time.Time
}

// Stage names the step of an SMTP conversation that failed.
type Stage string

// The stages of sending an email, in order.
const (
	StageConnect   Stage = "connect"
	StageTLS       Stage = "tls"
	StageAuth      Stage = "auth"
	StageSender    Stage = "sender"
	StageRecipient Stage = "recipient"
	StageMessage   Stage = "message"
)

// EmailError explains why the mail server did not take a message. Its
// message is written for the operator who reads the run history.
type EmailError struct {
	// Stage is the step that failed.
	Stage Stage
	// Server is the mail server as host:port.
	Server string
	// Code is the server's SMTP reply code, or 0 when it gave none.
	Code int
	// Temporary reports whether trying again later may succeed: network
	// failures and 4xx replies are temporary, 5xx replies and certificate
	// errors are not.
	Temporary bool
	msg       string
	err       error
}

// Error returns the operator-facing explanation.
func (e *EmailError) Error() string { return e.msg }

// Unwrap returns the underlying network, TLS or SMTP error.
func (e *EmailError) Unwrap() error { return e.err }

// Mailer sends email through one SMTP server. It opens one connection per
// message, which suits the volume of playbooks and leaves no idle connection
// for a server to drop; it is safe for concurrent use.
type Mailer struct {
	cfg  SMTPConfig
	from *netmail.Address
	addr string
}

// NewMailer checks the configuration and returns a Mailer. It does not
// connect: a mail server that is down at start-up should not stop Moments.
func NewMailer(cfg SMTPConfig) (*Mailer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp from %q is not an email address: %w", cfg.From, err)
	}
	return &Mailer{cfg: cfg, from: from, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}, nil
}

// reservedHeaders may not be set through Email.Headers: they are set from
// the Email's fields, and a second copy would confuse receivers.
var reservedHeaders = map[string]bool{
	"From": true, "Sender": true, "To": true, "Cc": true, "Bcc": true, "Reply-To": true,
	"Subject": true, "Message-Id": true, "Date": true, "Return-Path": true,
	"Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true,
}

// Send delivers m to the mail server and returns once the server has
// accepted it. The context's deadline, or SMTPConfig.Timeout if sooner,
// bounds the whole conversation; cancelling the context closes the
// connection. A failure is an *EmailError that names the stage.
func (ml *Mailer) Send(ctx context.Context, m Email) (SentEmail, error) {
	msg, sent, err := ml.build(m)
	if err != nil {
		return SentEmail{}, err
	}
	if err := ctx.Err(); err != nil {
		return SentEmail{}, fmt.Errorf("email to %s not sent: %w", m.To.Email, err)
	}

	deadline, ctxDeadline := time.Now().Add(ml.cfg.Timeout), false
	if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
		deadline, ctxDeadline = d, true
	}
	if time.Until(deadline) <= 0 {
		return SentEmail{}, fmt.Errorf("email to %s not sent: %w", m.To.Email, context.DeadlineExceeded)
	}

	tlsConfig := &tls.Config{
		ServerName: ml.cfg.Host,
		MinVersion: tls.VersionTLS12,
		// Opt-in only, for test servers with self-signed certificates.
		InsecureSkipVerify: ml.cfg.InsecureSkipVerify,
	}
	dial := &smtpDialer{ctx: ctx, ctxDeadline: ctxDeadline, implicitTLS: ml.cfg.TLS == TLSImplicit, tlsConfig: tlsConfig}
	defer dial.stop()

	// A client per message: go-mail's client holds its timeout as state, and
	// ours depends on the deadline of this one send.
	opts := []mail.Option{
		mail.WithPort(ml.cfg.Port),
		mail.WithTimeout(time.Until(deadline)),
		mail.WithTLSConfig(tlsConfig),
		mail.WithDialContextFunc(dial.dial),
	}
	switch ml.cfg.TLS {
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		// The dialer already speaks TLS; this only stops go-mail from
		// attempting STARTTLS on top of it.
		opts = append(opts, mail.WithSSL())
	}
	if ml.cfg.Username != "" {
		opts = append(opts,
			// PLAIN and LOGIN are what hosted relays accept; go-mail falls
			// back to discovering SCRAM or CRAM-MD5 when neither is offered.
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(ml.cfg.Username),
			mail.WithPassword(ml.cfg.Password),
		)
	}
	client, err := mail.NewClient(ml.cfg.Host, opts...)
	if err != nil {
		return SentEmail{}, fmt.Errorf("smtp client for %s: %w", ml.addr, err)
	}

	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return SentEmail{}, ml.dialError(dial, err)
	}
	// A conversation that fails half-way is ended by closing the
	// connection: QUIT would cost a round trip to a server that may be stuck.
	defer func() { _ = conn.Close() }()
	// go-mail extends the deadline by a full timeout after the greeting;
	// bring it back to the deadline of this send.
	if err := conn.UpdateDeadline(time.Until(deadline)); err != nil {
		return SentEmail{}, ml.dialError(dial, err)
	}

	// The transaction is driven here rather than by go-mail's Send so that
	// each step's SMTP reply reaches the operator as the server said it.
	from, err := msg.GetSender(false)
	if err != nil {
		return SentEmail{}, fmt.Errorf("email to %s: %w", m.To.Email, err)
	}
	if err := conn.Mail(from); err != nil {
		return SentEmail{}, ml.replyError(dial, StageSender, err, fmt.Sprintf("refused the sender address %s", ml.from.Address))
	}
	if err := conn.Rcpt(m.To.Email); err != nil {
		return SentEmail{}, ml.replyError(dial, StageRecipient, err, fmt.Sprintf("refused the recipient %s", m.To.Email))
	}
	w, err := conn.Data()
	if err != nil {
		return SentEmail{}, ml.replyError(dial, StageMessage, err, fmt.Sprintf("refused the message to %s", m.To.Email))
	}
	if _, err := msg.WriteTo(w); err != nil {
		return SentEmail{}, ml.replyError(dial, StageMessage, err, fmt.Sprintf("broke off while receiving the message to %s", m.To.Email))
	}
	if err := w.Close(); err != nil {
		return SentEmail{}, ml.replyError(dial, StageMessage, err, fmt.Sprintf("rejected the message to %s", m.To.Email))
	}
	if dc, ok := w.(*mailsmtp.DataCloser); ok {
		sent.ServerReply = dc.ServerResponse()
	}
	sent.SentAt = time.Now()
	// The message is delivered; a failed or slow QUIT must not turn it into
	// an error that makes the playbook send it again.
	_ = conn.UpdateDeadline(min(2*time.Second, time.Until(deadline)))
	_ = conn.Quit()
	return sent, nil
}

// build turns m into a go-mail message and checks it before any connection
// is opened.
func (ml *Mailer) build(m Email) (*mail.Msg, SentEmail, error) {
	to, err := netmail.ParseAddress(m.To.Email)
	if err != nil || to.Address != m.To.Email {
		return nil, SentEmail{}, fmt.Errorf("email recipient %q is not a valid email address", m.To.Email)
	}
	if m.Text == "" && m.HTML == "" {
		return nil, SentEmail{}, fmt.Errorf("email to %s has no body", m.To.Email)
	}
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	msg.FromMailAddress(ml.from)
	if err := msg.AddToFormat(m.To.Name, m.To.Email); err != nil {
		return nil, SentEmail{}, fmt.Errorf("email recipient %q: %w", m.To.Email, err)
	}
	if m.ReplyTo.Email != "" {
		if err := msg.ReplyToFormat(m.ReplyTo.Name, m.ReplyTo.Email); err != nil {
			return nil, SentEmail{}, fmt.Errorf("email reply-to %q is not a valid email address", m.ReplyTo.Email)
		}
	}
	msg.Subject(oneLine(m.Subject))

	id, err := normalizeMessageID(m.MessageID, ml.from.Address)
	if err != nil {
		return nil, SentEmail{}, err
	}
	if id == "" {
		msg.SetMessageID()
	} else {
		msg.SetMessageIDWithValue(id)
	}
	for name, value := range m.Headers {
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		switch {
		case !validHeaderName(name):
			return nil, SentEmail{}, fmt.Errorf("email header name %q is not valid", name)
		case reservedHeaders[canonical]:
			return nil, SentEmail{}, fmt.Errorf("email header %s is set by Moments and cannot be overridden", canonical)
		case strings.ContainsAny(value, "\r\n"):
			// A line break would let the value start a header of its own.
			return nil, SentEmail{}, fmt.Errorf("email header %s contains a line break", canonical)
		}
		msg.SetGenHeader(mail.Header(canonical), value)
	}
	msg.SetUserAgent("Moments")

	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(mail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(mail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(mail.TypeTextHTML, m.HTML)
	}
	return msg, SentEmail{MessageID: msg.GetMessageID(), To: m.To.Email}, nil
}

// normalizeMessageID returns id without angle brackets, completed with the
// sender's domain when it has none, or "" for an empty id.
func normalizeMessageID(id, fromAddr string) (string, error) {
	id = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
	if id == "" {
		return "", nil
	}
	if !strings.Contains(id, "@") {
		id += "@" + fromAddr[strings.LastIndexByte(fromAddr, '@')+1:]
	}
	left, right, _ := strings.Cut(id, "@")
	if len(id) > 250 || !isDotAtom(left) || !isDotAtom(right) {
		return "", fmt.Errorf("email message id %q is not valid: use letters, digits and . - _ only, e.g. run-42.step-3", id)
	}
	return id, nil
}

// isDotAtom reports whether s is an RFC 5322 dot-atom, the form both halves
// of a Message-ID must take.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)
		if !ok {
			return false
		}
	}
	return true
}

// validHeaderName reports whether name is a header field name: printable
// ASCII without a colon or space.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r > '~' || r == ':' {
			return false
		}
	}
	return true
}

// oneLine folds line breaks into spaces, because a subject must be a single
// header line and rendered data may carry a newline.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// smtpDialer opens the connection for one send. It lets Send tell a failure
// to connect from a later one, and ties the connection to the caller's
// context: go-mail passes the dial its own short-lived context, which would
// not cancel the conversation that follows.
type smtpDialer struct {
	ctx         context.Context
	ctxDeadline bool // the context's deadline is the one that bounds the send
	implicitTLS bool
	tlsConfig   *tls.Config

	mu       sync.Mutex
	stopFunc func() bool
	dialErr  error
	tlsErr   error
}

func (d *smtpDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		d.mu.Lock()
		d.dialErr = err
		d.mu.Unlock()
		return nil, err
	}
	stop := context.AfterFunc(d.ctx, func() { _ = conn.Close() })
	d.mu.Lock()
	d.stopFunc = stop
	d.mu.Unlock()
	if !d.implicitTLS {
		return conn, nil
	}
	tlsConn := tls.Client(conn, d.tlsConfig)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		d.mu.Lock()
		d.tlsErr = err
		d.mu.Unlock()
		return nil, err
	}
	return tlsConn, nil
}

func (d *smtpDialer) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopFunc != nil {
		d.stopFunc()
	}
}

// dialError explains a failure to connect, secure the connection or log in.
func (ml *Mailer) dialError(d *smtpDialer, err error) error {
	d.mu.Lock()
	dialErr, tlsErr := d.dialErr, d.tlsErr
	d.mu.Unlock()

	e := &EmailError{Server: ml.addr, err: err}
	var reply *textproto.Error
	hasReply := errors.As(err, &reply)
	if hasReply {
		e.Code = reply.Code
	}
	switch {
	case d.cutShort(err) != nil:
		cause := d.cutShort(err)
		e.Stage, e.Temporary, e.err = StageConnect, true, fmt.Errorf("%w: %w", cause, err)
		e.msg = stoppedMessage(cause, ml.addr)
	case dialErr != nil && errors.Is(dialErr, syscall.ECONNREFUSED):
		e.Stage, e.Temporary, e.err = StageConnect, true, dialErr
		e.msg = fmt.Sprintf("cannot connect to SMTP server %s: connection refused; check the smtp host and port and that the server is running", ml.addr)
	case dialErr != nil:
		e.Stage, e.Temporary, e.err = StageConnect, true, dialErr
		e.msg = fmt.Sprintf("cannot connect to SMTP server %s: %v", ml.addr, unwrapOpError(dialErr))
	case isTimeout(err):
		e.Stage, e.Temporary = StageConnect, true
		e.msg = fmt.Sprintf("SMTP server %s did not answer within %s; check the smtp port and tls setting (a tls port answers nothing to a starttls client)", ml.addr, ml.cfg.Timeout)
	case isAuthError(err):
		e.Stage = StageAuth
		switch {
		case hasReply && reply.Code == 535:
			e.msg = fmt.Sprintf("SMTP server %s rejected the username or password for %q: %d %s; check the smtp username and password", ml.addr, ml.cfg.Username, reply.Code, reply.Msg)
		case hasReply:
			e.Temporary = reply.Code/100 == 4
			e.msg = fmt.Sprintf("SMTP server %s refused the login for %q: %d %s", ml.addr, ml.cfg.Username, reply.Code, reply.Msg)
		default:
			e.msg = fmt.Sprintf("SMTP server %s: cannot log in as %q: %v", ml.addr, ml.cfg.Username, err)
		}
	case tlsErr != nil || isTLSError(err):
		e.Stage = StageTLS
		if tlsErr != nil {
			e.err = tlsErr
		}
		var verify *tls.CertificateVerificationError
		switch {
		case strings.Contains(e.err.Error(), "does not support STARTTLS"):
			e.msg = fmt.Sprintf("SMTP server %s does not offer STARTTLS: set smtp tls to tls if the port expects TLS from the start (usually 465), or to none for a relay on this host", ml.addr)
		case errors.As(e.err, &verify):
			e.msg = fmt.Sprintf("SMTP server %s presented a certificate that is not trusted (%v): install its CA, or for a test server only set smtp insecure_skip_verify", ml.addr, verify.Err)
		default:
			// A handshake that breaks off is often a blip on the network.
			e.Temporary = true
			e.msg = fmt.Sprintf("TLS with SMTP server %s failed: %v; check the smtp tls setting (none, starttls or tls)", ml.addr, e.err)
		}
	default:
		e.Stage = StageConnect
		e.Temporary = !hasReply || reply.Code/100 == 4
		e.msg = fmt.Sprintf("SMTP server %s did not accept the connection: %v", ml.addr, err)
	}
	return e
}

// replyError explains a refusal during the mail transaction.
func (ml *Mailer) replyError(d *smtpDialer, stage Stage, err error, what string) error {
	e := &EmailError{Stage: stage, Server: ml.addr, err: err}
	var reply *textproto.Error
	switch {
	case d.cutShort(err) != nil:
		cause := d.cutShort(err)
		e.Temporary, e.err = true, fmt.Errorf("%w: %w", cause, err)
		e.msg = stoppedMessage(cause, ml.addr)
	case errors.As(err, &reply):
		e.Code = reply.Code
		e.Temporary = reply.Code/100 == 4
		e.msg = fmt.Sprintf("SMTP server %s %s: %d %s", ml.addr, what, reply.Code, reply.Msg)
	case isTimeout(err):
		e.Temporary = true
		e.msg = fmt.Sprintf("SMTP server %s stopped answering during the %s step (timeout %s)", ml.addr, stage, ml.cfg.Timeout)
	default:
		// The connection broke: whether the message arrived is unknown, so a
		// retry is allowed and the stable Message-ID lets receivers dedupe.
		e.Temporary = true
		e.msg = fmt.Sprintf("SMTP server %s: connection lost while sending (%v)", ml.addr, unwrapOpError(err))
	}
	return e
}

// cutShort returns the context's error when err comes from the send's
// context: cancelled, or past its deadline. A network timeout counts when
// the context's deadline was the one set on the connection, since the
// connection can time out a moment before the context notices.
func (d *smtpDialer) cutShort(err error) error {
	if ctxErr := d.ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if d.ctxDeadline && isTimeout(err) {
		return context.DeadlineExceeded
	}
	return nil
}

// stoppedMessage explains a send cut short by its context.
func stoppedMessage(cause error, addr string) string {
	if errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Sprintf("SMTP server %s did not finish before the step's deadline; check the smtp port and tls setting, and whether the server is overloaded", addr)
	}
	return fmt.Sprintf("sending through SMTP server %s was cancelled, for example because Moments is shutting down", addr)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

func isAuthError(err error) bool {
	return strings.Contains(err.Error(), "SMTP AUTH") ||
		errors.Is(err, mailsmtp.ErrUnencrypted) ||
		errors.Is(err, mail.ErrNoSupportedAuthDiscovered) ||
		errors.Is(err, mail.ErrPlainAuthNotSupported) ||
		errors.Is(err, mail.ErrLoginAuthNotSupported)
}

func isTLSError(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		alert     tls.AlertError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
	)
	return errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &alert) ||
		errors.As(err, &unknownCA) || errors.As(err, &hostname) ||
		strings.Contains(err.Error(), "STARTTLS") || strings.Contains(err.Error(), "tls:")
}

// unwrapOpError drops the "dial tcp 127.0.0.1:25:" prefix of a network error,
// which repeats the address the message already names.
func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	if errors.Is(err, io.EOF) {
		return errors.New("the server closed the connection")
	}
	return err
}
