package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Webhook formats.
const (
	// FormatJSON posts the payload as JSON, unchanged. The default.
	FormatJSON = "json"
	// FormatSlack posts a Slack incoming-webhook body ({"text", "blocks"}).
	FormatSlack = "slack"
)

// Defaults of SenderConfig.
const (
	DefaultWebhookTimeout     = 10 * time.Second
	DefaultWebhookMaxAttempts = 5
	DefaultWebhookMinBackoff  = 500 * time.Millisecond
	DefaultWebhookMaxBackoff  = 30 * time.Second
)

// MaxResponseBytes is how much of a receiver's answer is read and kept in a
// Delivery: enough for an error message, not enough to fill the database.
const MaxResponseBytes = 64 << 10

// maxWebhookBody bounds the JSON posted; receivers such as Slack refuse far
// smaller bodies, and a larger one means a payload built by mistake.
const maxWebhookBody = 1 << 20

// Webhook is where and how to post one notification.
type Webhook struct {
	// URL is an http or https address. It may hold a secret (Slack's do), so
	// errors and deliveries name only its host.
	URL string
	// Secret signs the request (Moments-Signature). Empty sends it unsigned,
	// which only suits receivers that cannot verify, such as Slack.
	Secret []byte
	// Format is "json" (the default) or "slack".
	Format string
}

// Validate reports a webhook that cannot be sent, naming only its host.
func (w Webhook) Validate() error {
	u, err := url.Parse(w.URL)
	if err != nil || u.Host == "" {
		return errors.New("webhook url is not an absolute http or https address")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("webhook url for %s uses %q: only http and https are supported", u.Host, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("webhook url for %s contains credentials: use the webhook secret to authenticate instead", u.Host)
	}
	switch w.Format {
	case "", FormatJSON, FormatSlack:
	default:
		return fmt.Errorf("webhook format %q is not one of json, slack", w.Format)
	}
	return nil
}

// host returns the host of the URL, the only part safe to show.
func (w Webhook) host() string {
	if u, err := url.Parse(w.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return "(invalid url)"
}

// SenderConfig tunes webhook delivery. Zero values mean the defaults.
type SenderConfig struct {
	// Timeout bounds one attempt, from connecting to reading the answer;
	// DefaultWebhookTimeout when zero.
	Timeout time.Duration
	// MaxAttempts bounds attempts per Send, the first included;
	// DefaultWebhookMaxAttempts when zero.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts, which
	// doubles from MinBackoff with random jitter. MaxBackoff is also the
	// longest Retry-After honoured in process: a longer one ends Send and is
	// reported in Delivery.RetryAfter for the job queue to schedule.
	MinBackoff, MaxBackoff time.Duration
	// Backoff, when set, replaces the exponential wait before retry n
	// (1 for the wait after the first attempt). Tests set it to zero waits.
	Backoff func(retry int) time.Duration
	// Allow lists the networks (CIDRs), addresses and host names webhooks
	// may reach although they are loopback, link-local or private; by
	// default none (--webhook-allow, MOMENTS_WEBHOOK_ALLOW).
	Allow []string
}

func (c SenderConfig) withDefaults() SenderConfig {
	if c.Timeout == 0 {
		c.Timeout = DefaultWebhookTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultWebhookMaxAttempts
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultWebhookMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultWebhookMaxBackoff
	}
	return c
}

// Validate reports a setting out of range.
func (c SenderConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("webhook timeout %s is negative", c.Timeout)
	case c.MaxAttempts < 1 || c.MaxAttempts > 20:
		return fmt.Errorf("webhook max attempts %d is out of range 1–20", c.MaxAttempts)
	case c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("webhook backoff %s–%s is not a valid range", c.MinBackoff, c.MaxBackoff)
	}
	_, err := newDialGuard(c.Allow)
	return err
}

// ExponentialBackoff returns the wait before retry n (from 1): min doubled
// n-1 times, capped at max, then a random point in its upper half. The
// jitter spreads retries from many runs so that a receiver coming back up is
// not hit by all of them at once; the lower bound keeps it from being
// retried at once.
func ExponentialBackoff(minWait, maxWait time.Duration) func(retry int) time.Duration {
	return func(retry int) time.Duration {
		d := minWait
		for i := 1; i < retry && d < maxWait; i++ {
			d *= 2
		}
		d = min(d, maxWait)
		if d <= 0 {
			return 0
		}
		half := d / 2
		return half + rand.N(d-half+1)
	}
}

// Delivery records one Send for the run history.
type Delivery struct {
	// Host is the receiver's host; the full URL is not kept since it may
	// hold a secret.
	Host           string
	IdempotencyKey string
	// Delivered is true once the receiver answered 2xx.
	Delivered bool
	// StatusCode is the last HTTP status, 0 when no answer came.
	StatusCode int
	Attempts   int
	Duration   time.Duration
	// LastError explains the last failed attempt; empty when delivered on
	// the first.
	LastError string
	// ResponseBody is the start of the receiver's answer when it accepted
	// (2xx), at most MaxResponseBytes; ResponseTruncated says whether there
	// was more. A refusal's body is not kept: it could be an internal page
	// that the run history would then show.
	ResponseBody      string
	ResponseTruncated bool
	// RetryAfter is the wait the receiver last asked for with Retry-After.
	RetryAfter time.Duration
}

// WebhookError explains why a webhook was not delivered.
type WebhookError struct {
	// Host is the receiver's host.
	Host string
	// StatusCode is the receiver's last answer, 0 when none came.
	StatusCode int
	// Temporary reports whether sending again later may succeed: network
	// failures, 408, 429 and 5xx are temporary; other answers are not.
	Temporary bool
	msg       string
	err       error
}

// Error returns the operator-facing explanation.
func (e *WebhookError) Error() string { return e.msg }

// Unwrap returns the underlying network error, if any.
func (e *WebhookError) Unwrap() error { return e.err }

// Sender posts webhooks. It is safe for concurrent use.
type Sender struct {
	cfg     SenderConfig
	client  *http.Client
	backoff func(int) time.Duration
	// sleep waits between attempts; tests replace it to record the waits.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

// NewSender returns a Sender with an HTTP client whose every phase has a
// timeout and which does not follow redirects.
func NewSender(cfg SenderConfig) (*Sender, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	guard, err := newDialGuard(cfg.Allow)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// The address is checked when dialled: a proxy would dial for us,
	// unchecked, so none is used.
	transport.Proxy = nil
	transport.DialContext = guard.dialContext(&net.Dialer{Timeout: min(5*time.Second, cfg.Timeout), KeepAlive: 30 * time.Second})
	transport.TLSHandshakeTimeout = min(5*time.Second, cfg.Timeout)
	transport.ResponseHeaderTimeout = cfg.Timeout
	transport.MaxIdleConnsPerHost = 4
	client := &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		// A redirect would turn the POST into a GET and drop the body; a
		// receiver that moved should be given its new URL instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	backoff := cfg.Backoff
	if backoff == nil {
		backoff = ExponentialBackoff(cfg.MinBackoff, cfg.MaxBackoff)
	}
	return &Sender{cfg: cfg, client: client, backoff: backoff, sleep: sleepContext, now: time.Now}, nil
}

// Send posts payload to w, signed, with the same idempotencyKey on every
// attempt. It retries network failures, 408, 429 and 5xx with backoff,
// honouring Retry-After, up to MaxAttempts and never past the context's
// deadline; other answers are final. The Delivery is filled in even when
// an error is returned; the error is then a *WebhookError unless the
// webhook or payload itself is invalid.
func (s *Sender) Send(ctx context.Context, w Webhook, idempotencyKey string, payload any) (d Delivery, err error) {
	d = Delivery{Host: w.host(), IdempotencyKey: idempotencyKey}
	if err := w.Validate(); err != nil {
		return d, err
	}
	if idempotencyKey == "" || len(idempotencyKey) > 255 || !validHeaderValue(idempotencyKey) {
		return d, fmt.Errorf("webhook to %s: idempotency key must be 1–255 printable characters", d.Host)
	}
	body, err := encodeWebhookBody(w.Format, payload)
	if err != nil {
		return d, fmt.Errorf("webhook to %s: %w", d.Host, err)
	}

	start := s.now()
	defer func() { d.Duration = s.now().Sub(start) }()
	for attempt := 1; ; attempt++ {
		d.Attempts = attempt
		res := s.attempt(ctx, w, idempotencyKey, body)
		d.StatusCode, d.ResponseBody, d.ResponseTruncated = res.status, res.body, res.truncated
		if res.retryAfter > 0 {
			d.RetryAfter = res.retryAfter
		}
		if res.err == nil {
			d.Delivered = true
			return d, nil
		}
		d.LastError = res.err.Error()
		if !res.err.Temporary || ctx.Err() != nil {
			return d, res.err
		}
		if attempt >= s.cfg.MaxAttempts {
			return d, s.giveUp(res.err, fmt.Sprintf("gave up after %d attempts", attempt))
		}
		if res.retryAfter > s.cfg.MaxBackoff {
			// Hours-long waits belong to the durable job queue, which
			// survives a restart; the caller reads Delivery.RetryAfter.
			return d, s.giveUp(res.err, fmt.Sprintf("receiver asked to retry after %s", res.retryAfter))
		}
		wait := max(s.backoff(attempt), res.retryAfter)
		if deadline, ok := ctx.Deadline(); ok && s.now().Add(wait).After(deadline) {
			return d, s.giveUp(res.err, fmt.Sprintf("no time left for attempt %d before the deadline", attempt+1))
		}
		if err := s.sleep(ctx, wait); err != nil {
			return d, s.giveUp(res.err, fmt.Sprintf("stopped waiting to retry: %v", err))
		}
	}
}

// giveUp adds why retrying stopped to the last attempt's error.
func (s *Sender) giveUp(last *WebhookError, why string) *WebhookError {
	e := *last
	e.msg = last.msg + " (" + why + ")"
	return &e
}

// attemptResult is what one POST produced.
type attemptResult struct {
	status     int
	body       string
	truncated  bool
	retryAfter time.Duration
	err        *WebhookError
}

// attempt makes one signed POST. The signature is made afresh for each
// attempt, so a retry after a long wait is not refused as a replay.
func (s *Sender) attempt(ctx context.Context, w Webhook, key string, body []byte) attemptResult {
	host := w.host()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return attemptResult{err: &WebhookError{Host: host, msg: fmt.Sprintf("webhook to %s: cannot build the request", host), err: err}}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Moments-Webhook/1")
	req.Header.Set(IdempotencyKeyHeader, key)
	if len(w.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.Secret, s.now(), body))
	}

	resp, err := s.client.Do(req)
	if err != nil {
		return attemptResult{err: transportError(ctx, host, err)}
	}
	defer func() {
		// Draining a little lets the connection be reused; a receiver that
		// keeps talking is cut off.
		_, _ = io.CopyN(io.Discard, resp.Body, MaxResponseBytes)
		_ = resp.Body.Close()
	}()
	res := attemptResult{status: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), s.now())}
	// A read error only shortens the recorded answer: the status decides.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if len(raw) > MaxResponseBytes {
		raw, res.truncated = raw[:MaxResponseBytes], true
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		// The receiver accepted; a body cut short is no reason to send again.
		res.body = string(raw)
		return res
	case code >= 300 && code < 400:
		res.err = &WebhookError{Host: host, StatusCode: code, msg: fmt.Sprintf(
			"webhook receiver %s answered %s, a redirect, which is not followed: update the webhook URL to the new address", host, statusText(code))}
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		res.err = &WebhookError{Host: host, StatusCode: code, Temporary: true, msg: fmt.Sprintf(
			"webhook receiver %s answered %s", host, statusText(code))}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		res.err = &WebhookError{Host: host, StatusCode: code, msg: fmt.Sprintf(
			"webhook receiver %s refused the request with %s; check that the receiver has the same webhook secret as Moments", host, statusText(code))}
	default:
		res.err = &WebhookError{Host: host, StatusCode: code, msg: fmt.Sprintf(
			"webhook receiver %s refused the request with %s; not retried, since sending the same request again would be refused again", host, statusText(code))}
	}
	return res
}

// transportError explains a request that got no answer. The *url.Error that
// net/http returns repeats the whole URL, which may hold a secret, so only
// its cause is kept.
func transportError(ctx context.Context, host string, err error) *WebhookError {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	e := &WebhookError{Host: host, Temporary: true, err: err}
	var (
		verify    *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		dnsErr    *net.DNSError
		blocked   *BlockedTargetError
	)
	switch {
	case errors.As(err, &blocked):
		e.Temporary = false
		e.msg = fmt.Sprintf("webhook to %s refused: %v", host, blocked)
	case ctx.Err() != nil:
		e.err = ctx.Err()
		e.msg = fmt.Sprintf("webhook to %s stopped: %v", host, ctx.Err())
	case errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &hostname):
		// Retrying cannot fix a certificate; the receiver's owner must.
		e.Temporary = false
		e.msg = fmt.Sprintf("webhook receiver %s presented a certificate that is not trusted: %v", host, err)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		e.msg = fmt.Sprintf("webhook receiver %s: no such host; check the webhook URL", host)
	case isTimeout(err):
		e.msg = fmt.Sprintf("webhook receiver %s did not answer in time", host)
	default:
		e.msg = fmt.Sprintf("webhook receiver %s could not be reached: %v", host, unwrapOpError(err))
	}
	return e
}

// encodeWebhookBody marshals the payload for the format.
func encodeWebhookBody(format string, payload any) ([]byte, error) {
	if format == FormatSlack {
		switch p := payload.(type) {
		case slackBody:
		case SlackMessage:
			payload = p.payload()
		case *SlackMessage:
			payload = p.payload()
		case string:
			payload = SlackMessage{Text: p}.payload()
		default:
			return nil, fmt.Errorf("format slack needs a message built with SlackPayload, not %T", payload)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// The body is never embedded in HTML, and "&lt;" reads better than
	// "\u0026lt;" for whoever debugs a receiver.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload); err != nil {
		return nil, fmt.Errorf("payload cannot be encoded as JSON: %w", err)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(body) > maxWebhookBody {
		return nil, fmt.Errorf("payload is %d bytes, more than the limit of %d", len(body), maxWebhookBody)
	}
	return body, nil
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date; anything
// else, or a time in the past, is no request to wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// Capped so that a huge value cannot overflow a Duration.
		return time.Duration(min(secs, 7*24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func statusText(code int) string {
	if text := http.StatusText(code); text != "" {
		return strconv.Itoa(code) + " " + text
	}
	return strconv.Itoa(code)
}

// snippet quotes the start of a receiver's answer for an error message;
// receivers often say there what they did not like.
func snippet(body []byte) string {
	s := oneLine(string(body))
	if s == "" {
		return ""
	}
	return ": " + truncate(s, 200)
}

// validHeaderValue reports whether v is printable ASCII, which keeps a key
// from splitting the header.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
