package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var testWebhookSecret = []byte("whsec_test_secret")

// receivedHook is one request as the test receiver saw it.
type receivedHook struct {
	Header    http.Header
	Body      []byte
	VerifyErr error
}

// hookReceiver is a real HTTP server that verifies each request's signature
// with Verify, as a customer's receiver would, and answers from a script.
type hookReceiver struct {
	*httptest.Server

	mu       sync.Mutex
	received []receivedHook
	// answer returns the response to attempt n (from 1); nil means 200.
	answer func(n int, w http.ResponseWriter, r *http.Request)
}

func (h *hookReceiver) requests() []receivedHook {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]receivedHook(nil), h.received...)
}

func startHookReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *hookReceiver {
	t.Helper()
	h := &hookReceiver{answer: answer}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		rec := receivedHook{Header: r.Header.Clone(), Body: body}
		if r.Header.Get(SignatureHeader) != "" {
			rec.VerifyErr = Verify(testWebhookSecret, r.Header.Get(SignatureHeader), body, time.Minute, time.Now())
		}
		h.mu.Lock()
		h.received = append(h.received, rec)
		n := len(h.received)
		h.mu.Unlock()
		if h.answer != nil {
			h.answer(n, w, r)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// testSender returns a Sender whose waits are recorded instead of slept.
func testSender(t *testing.T, cfg SenderConfig) (*Sender, *[]time.Duration) {
	t.Helper()
	if cfg.Backoff == nil {
		cfg.Backoff = func(int) time.Duration { return time.Millisecond }
	}
	// The receivers are httptest servers on loopback, which webhooks may
	// reach only when allowed.
	if cfg.Allow == nil {
		cfg.Allow = []string{"127.0.0.1/32", "::1/128"}
	}
	s, err := NewSender(cfg)
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		waits []time.Duration
	)
	s.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return s, &waits
}

type hookPayload struct {
	Event   string `json:"event"`
	Account string `json:"account"`
}

func TestSenderRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	recv := startHookReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	sender, waits := testSender(t, SenderConfig{})

	payload := hookPayload{Event: "moment.started", Account: "acct_1"}
	d, err := sender.Send(context.Background(), Webhook{URL: recv.URL + "/hooks/moments", Secret: testWebhookSecret}, "run-42.step-3", payload)
	require.NoError(t, err)
	require.True(t, d.Delivered)
	require.Equal(t, 3, d.Attempts)
	require.Equal(t, http.StatusOK, d.StatusCode)
	require.Equal(t, `{"ok":true}`, d.ResponseBody)
	require.Contains(t, d.LastError, "503 Service Unavailable")
	require.NotContains(t, d.LastError, "warming up", "a refusal's body is not kept")
	require.Equal(t, strings.TrimPrefix(recv.URL, "http://"), d.Host)
	require.Positive(t, d.Duration)
	require.Len(t, *waits, 2)

	reqs := recv.requests()
	require.Len(t, reqs, 3)
	want, err := json.Marshal(payload)
	require.NoError(t, err)
	for i, r := range reqs {
		require.NoError(t, r.VerifyErr, "attempt %d is signed", i+1)
		require.Equal(t, "run-42.step-3", r.Header.Get(IdempotencyKeyHeader), "attempt %d has the same key", i+1)
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
		require.Equal(t, "Moments-Webhook/1", r.Header.Get("User-Agent"))
		require.JSONEq(t, string(want), string(r.Body))
	}
}

func TestSenderFinalAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		answer   func(w http.ResponseWriter)
		status   int
		contains []string
	}{
		{
			name:     "400 is not retried",
			answer:   func(w http.ResponseWriter) { http.Error(w, `{"error":"unknown account"}`, http.StatusBadRequest) },
			status:   http.StatusBadRequest,
			contains: []string{"refused the request with 400 Bad Request", "not retried"},
		},
		{
			name:     "401 is not retried",
			answer:   func(w http.ResponseWriter) { w.WriteHeader(http.StatusUnauthorized) },
			status:   http.StatusUnauthorized,
			contains: []string{"401 Unauthorized"},
		},
		{
			name: "a redirect is not followed",
			answer: func(w http.ResponseWriter) {
				w.Header().Set("Location", "https://elsewhere.example/hook")
				w.WriteHeader(http.StatusFound)
			},
			status:   http.StatusFound,
			contains: []string{"302 Found", "update the webhook URL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recv := startHookReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { tt.answer(w) })
			sender, waits := testSender(t, SenderConfig{})

			d, err := sender.Send(context.Background(), Webhook{URL: recv.URL, Secret: testWebhookSecret}, "k1", hookPayload{Event: "e"})
			require.Error(t, err)
			t.Log(err)
			var we *WebhookError
			require.ErrorAs(t, err, &we)
			require.False(t, we.Temporary)
			require.Equal(t, tt.status, we.StatusCode)
			for _, s := range tt.contains {
				require.Contains(t, err.Error(), s)
			}
			require.False(t, d.Delivered)
			require.Equal(t, 1, d.Attempts)
			require.Equal(t, tt.status, d.StatusCode)
			require.Equal(t, err.Error(), d.LastError)
			require.Empty(t, *waits)
			require.Len(t, recv.requests(), 1)
		})
	}
}

func TestSenderGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	recv := startHookReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	sender, waits := testSender(t, SenderConfig{MaxAttempts: 3})

	d, err := sender.Send(context.Background(), Webhook{URL: recv.URL, Secret: testWebhookSecret}, "k1", hookPayload{})
	require.ErrorContains(t, err, "502 Bad Gateway (gave up after 3 attempts)")
	var we *WebhookError
	require.ErrorAs(t, err, &we)
	require.True(t, we.Temporary, "the playbook may try again later")
	require.Equal(t, 3, d.Attempts)
	require.Len(t, recv.requests(), 3)
	require.Len(t, *waits, 2)
}

func TestSenderDefaultsToFiveAttempts(t *testing.T) {
	t.Parallel()
	recv := startHookReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	sender, _ := testSender(t, SenderConfig{})
	d, err := sender.Send(context.Background(), Webhook{URL: recv.URL}, "k1", hookPayload{})
	require.Error(t, err)
	require.Equal(t, DefaultWebhookMaxAttempts, d.Attempts)
}

func TestSenderHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	recv := startHookReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	sender, waits := testSender(t, SenderConfig{})

	d, err := sender.Send(context.Background(), Webhook{URL: recv.URL, Secret: testWebhookSecret}, "k1", hookPayload{})
	require.NoError(t, err)
	require.Equal(t, 2, d.Attempts)
	require.Equal(t, 2*time.Second, d.RetryAfter)
	require.Equal(t, []time.Duration{2 * time.Second}, *waits, "waits as long as the receiver asked, not the 1ms backoff")
}

func TestSenderLeavesLongRetryAfterToTheCaller(t *testing.T) {
	t.Parallel()
	recv := startHookReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	sender, waits := testSender(t, SenderConfig{})

	d, err := sender.Send(context.Background(), Webhook{URL: recv.URL}, "k1", hookPayload{})
	require.ErrorContains(t, err, "receiver asked to retry after 1h0m0s")
	var we *WebhookError
	require.ErrorAs(t, err, &we)
	require.True(t, we.Temporary)
	require.Equal(t, time.Hour, d.RetryAfter)
	require.Equal(t, 1, d.Attempts)
	require.Empty(t, *waits)
}

func TestSenderRetriesNetworkErrors(t *testing.T) {
	t.Parallel()
	recv := startHookReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			// Drop the connection without an answer, as a crashing
			// receiver or a load balancer restart would.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}
	})
	sender, _ := testSender(t, SenderConfig{})

	d, err := sender.Send(context.Background(), Webhook{URL: recv.URL, Secret: testWebhookSecret}, "k1", hookPayload{})
	require.NoError(t, err)
	require.Equal(t, 2, d.Attempts)
	require.Contains(t, d.LastError, "could not be reached")
	reqs := recv.requests()
	require.Len(t, reqs, 2)
	require.Equal(t, reqs[0].Header.Get(IdempotencyKeyHeader), reqs[1].Header.Get(IdempotencyKeyHeader))
}

func TestSenderStopsAtContextDeadline(t *testing.T) {
	t.Parallel()
	recv := startHookReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	// Real sleeping here: the point is that Send does not start a wait
	// that would outlast the deadline.
	sender, err := NewSender(SenderConfig{Backoff: func(int) time.Duration { return 10 * time.Second }, Allow: []string{"127.0.0.1"}})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	d, err := sender.Send(ctx, Webhook{URL: recv.URL}, "k1", hookPayload{})
	require.ErrorContains(t, err, "503 Service Unavailable (no time left for attempt 2 before the deadline)")
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, 1, d.Attempts)
}

func TestSenderKeepsURLSecretsOutOfErrors(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	sender, _ := testSender(t, SenderConfig{MaxAttempts: 2})

	d, err := sender.Send(context.Background(), Webhook{URL: "http://" + addr + "/services/T000/B000/XXXXSECRET?token=abc"}, "k1", hookPayload{})
	require.Error(t, err)
	t.Log(err)
	require.Contains(t, err.Error(), "webhook receiver "+addr+" could not be reached")
	require.Contains(t, err.Error(), "connection refused")
	require.NotContains(t, err.Error(), "XXXXSECRET")
	require.NotContains(t, err.Error(), "token")
	require.NotContains(t, d.LastError, "XXXXSECRET")
	require.Equal(t, addr, d.Host)
	require.Equal(t, 2, d.Attempts)
}

func TestSenderTruncatesLongAnswers(t *testing.T) {
	t.Parallel()
	recv := startHookReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", MaxResponseBytes+1000))
	})
	sender, _ := testSender(t, SenderConfig{})

	d, err := sender.Send(context.Background(), Webhook{URL: recv.URL}, "k1", hookPayload{})
	require.NoError(t, err)
	require.True(t, d.ResponseTruncated)
	require.Len(t, d.ResponseBody, MaxResponseBytes)
}

func TestSenderSlackFormat(t *testing.T) {
	t.Parallel()
	recv := startHookReceiver(t, nil)
	sender, _ := testSender(t, SenderConfig{})

	payload := SlackPayload("Renewal in 90 days", "Customer Inc renews on 2026-03-31.", map[string]string{"ARR": "$120,000"}, "https://moments.acme.example/accounts/acct_1")
	_, err := sender.Send(context.Background(), Webhook{URL: recv.URL, Format: FormatSlack}, "k1", payload)
	require.NoError(t, err)

	reqs := recv.requests()
	require.Len(t, reqs, 1)
	require.Empty(t, reqs[0].Header.Get(SignatureHeader), "no secret, no signature")
	var body struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(reqs[0].Body, &body))
	require.Equal(t, "Renewal in 90 days: Customer Inc renews on 2026-03-31.", body.Text)
	require.Len(t, body.Blocks, 4)
	require.Equal(t, "header", body.Blocks[0]["type"])

	// A plain string becomes a text-only Slack message.
	_, err = sender.Send(context.Background(), Webhook{URL: recv.URL, Format: FormatSlack}, "k2", "Hello from Moments")
	require.NoError(t, err)
	require.JSONEq(t, `{"text":"Hello from Moments","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"Hello from Moments"}}]}`, string(recv.requests()[1].Body))
}

func TestSenderRefusesBadInput(t *testing.T) {
	t.Parallel()
	recv := startHookReceiver(t, nil)
	sender, _ := testSender(t, SenderConfig{})
	tests := []struct {
		name     string
		webhook  Webhook
		key      string
		payload  any
		contains string
	}{
		{name: "relative url", webhook: Webhook{URL: "/hooks"}, key: "k", contains: "not an absolute http or https address"},
		{name: "other scheme", webhook: Webhook{URL: "ftp://files.example/x"}, key: "k", contains: `uses "ftp"`},
		{name: "credentials in url", webhook: Webhook{URL: "https://user:pw@hooks.example/x"}, key: "k", contains: "contains credentials"},
		{name: "unknown format", webhook: Webhook{URL: recv.URL, Format: "teams"}, key: "k", contains: `format "teams"`},
		{name: "no idempotency key", webhook: Webhook{URL: recv.URL}, key: "", contains: "idempotency key"},
		{name: "key with a line break", webhook: Webhook{URL: recv.URL}, key: "a\r\nX-Evil: 1", contains: "idempotency key"},
		{name: "slack with a non-slack payload", webhook: Webhook{URL: recv.URL, Format: FormatSlack}, key: "k", payload: hookPayload{}, contains: "format slack needs a message built with SlackPayload"},
		{name: "payload not json", webhook: Webhook{URL: recv.URL}, key: "k", payload: func() {}, contains: "cannot be encoded as JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := sender.Send(context.Background(), tt.webhook, tt.key, tt.payload)
			require.ErrorContains(t, err, tt.contains)
			require.Zero(t, d.Attempts)
			require.NotContains(t, err.Error(), "pw@")
		})
	}
	require.Empty(t, recv.requests())
}

func TestSenderConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      SenderConfig
		contains string
	}{
		{name: "defaults", cfg: SenderConfig{}},
		{name: "negative timeout", cfg: SenderConfig{Timeout: -1}, contains: "negative"},
		{name: "too many attempts", cfg: SenderConfig{MaxAttempts: 100}, contains: "out of range"},
		{name: "backoff range upside down", cfg: SenderConfig{MinBackoff: time.Minute, MaxBackoff: time.Second}, contains: "not a valid range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.contains == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.contains)
		})
	}
}

func TestExponentialBackoff(t *testing.T) {
	t.Parallel()
	backoff := ExponentialBackoff(100*time.Millisecond, time.Second)
	tests := []struct {
		retry    int
		min, max time.Duration
	}{
		{retry: 1, min: 50 * time.Millisecond, max: 100 * time.Millisecond},
		{retry: 2, min: 100 * time.Millisecond, max: 200 * time.Millisecond},
		{retry: 3, min: 200 * time.Millisecond, max: 400 * time.Millisecond},
		{retry: 5, min: 500 * time.Millisecond, max: time.Second},
		{retry: 50, min: 500 * time.Millisecond, max: time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			d := backoff(tt.retry)
			require.GreaterOrEqual(t, d, tt.min, "retry %d", tt.retry)
			require.LessOrEqual(t, d, tt.max, "retry %d", tt.retry)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{value: "", want: 0},
		{value: "120", want: 2 * time.Minute},
		{value: "0", want: 0},
		{value: "-5", want: 0},
		{value: "99999999999999", want: 7 * 24 * time.Hour},
		{value: now.Add(30 * time.Second).Format(http.TimeFormat), want: 30 * time.Second},
		{value: now.Add(-time.Minute).Format(http.TimeFormat), want: 0},
		{value: "soon", want: 0},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, parseRetryAfter(tt.value, now), tt.value)
	}
}

func TestWebhookErrorUnwraps(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	sender, _ := testSender(t, SenderConfig{MaxAttempts: 1})

	_, err = sender.Send(context.Background(), Webhook{URL: "http://" + addr}, "k1", hookPayload{})
	var opErr *net.OpError
	require.True(t, errors.As(err, &opErr), "the network error stays reachable for callers")
}

// TestReceiverRejectsTamperedAndReplayedRequests plays both sides: a
// receiver that enforces Verify accepts a genuine delivery, then refuses the
// same request with an altered body, and the genuine request replayed after
// the tolerance.
func TestReceiverRejectsTamperedAndReplayedRequests(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		clock    = time.Now()
		captured http.Header
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		now := clock
		if captured == nil {
			captured = r.Header.Clone()
		}
		mu.Unlock()
		if err := Verify(testWebhookSecret, r.Header.Get(SignatureHeader), body, 5*time.Minute, now); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)

	sender, _ := testSender(t, SenderConfig{})
	d, err := sender.Send(context.Background(), Webhook{URL: recv.URL, Secret: testWebhookSecret}, "k1", hookPayload{Event: "moment.started", Account: "acct_1"})
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, d.StatusCode)

	replay := func(body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, recv.URL, strings.NewReader(body))
		require.NoError(t, err)
		mu.Lock()
		req.Header = captured.Clone()
		mu.Unlock()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}

	status, msg := replay(`{"event":"moment.started","account":"acct_2"}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, msg, ErrSignatureMismatch.Error())

	mu.Lock()
	clock = clock.Add(10 * time.Minute)
	mu.Unlock()
	status, msg = replay(`{"event":"moment.started","account":"acct_1"}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, msg, "outside the tolerance")
}
