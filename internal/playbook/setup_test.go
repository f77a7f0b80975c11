package playbook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/fakeclock"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/notify"
	"github.com/moments-cs/moments/internal/store"
)

// newClock is the tests' clock: a Monday, so business days are easy to
// count; it moves only when told.
func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC))
}

// mailServer is a real SMTP server (emersion/go-smtp) keeping what it
// receives.
type mailServer struct {
	Host string
	Port int
	mu   sync.Mutex
	msgs []*netmail.Message
	to   [][]string
}

func (s *mailServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{s: s}, nil }

func (s *mailServer) received() []*netmail.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*netmail.Message(nil), s.msgs...)
}

type mailSession struct {
	s  *mailServer
	to []string
}

func (m *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (m *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	m.to = append(m.to, to)
	return nil
}

func (m *mailSession) Data(r io.Reader) error {
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(msg.Body)
	msg.Body = strings.NewReader(string(body))
	m.s.mu.Lock()
	m.s.msgs = append(m.s.msgs, msg)
	m.s.to = append(m.s.to, m.to)
	m.s.mu.Unlock()
	return nil
}
func (m *mailSession) Reset()        { m.to = nil }
func (m *mailSession) Logout() error { return nil }

func startMailServer(t *testing.T) *mailServer {
	t.Helper()
	backend := &mailServer{}
	srv := smtp.NewServer(backend)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	backend.Host, backend.Port = "127.0.0.1", l.Addr().(*net.TCPAddr).Port
	return backend
}

func (s *mailServer) config() notify.SMTPConfig {
	return notify.SMTPConfig{Host: s.Host, Port: s.Port, From: "Vendor CS <cs@vendor.example>", TLS: notify.TLSNone,
		Timeout: 5 * time.Second}
}

const testSecret = "whsec_test"

// hookServer is a webhook receiver that verifies every signature and can
// be told to fail the first calls.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	keys     []string
	bodies   []map[string]any
	failures int
	badSigs  int
}

func startHookServer(t *testing.T) *hookServer {
	t.Helper()
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := notify.Verify([]byte(testSecret), r.Header.Get(notify.SignatureHeader), body, 0, time.Now()); err != nil {
			h.badSigs++
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.keys = append(h.keys, r.Header.Get(notify.IdempotencyKeyHeader))
		if h.failures > 0 {
			h.failures--
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		h.bodies = append(h.bodies, m)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) received() (keys []string, bodies []map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.keys...), append([]map[string]any(nil), h.bodies...)
}

// applyMap applies testdata/journey.yaml with the webhook URL filled in.
func applyMap(t *testing.T, st *store.Store, hookURL string) *journey.Live {
	t.Helper()
	data, err := os.ReadFile("testdata/journey.yaml")
	require.NoError(t, err)
	data = []byte(strings.ReplaceAll(string(data), "HOOK_URL", hookURL))
	live := journey.NewLive(st)
	res, err := live.Apply(context.Background(), "journey.yaml", data, "test")
	require.NoError(t, err)
	require.False(t, journey.HasErrors(res.Diagnostics), "%v", res.Diagnostics)
	return live
}

// seedAccount ingests an account with an owner and a sponsor contact.
func seedAccount(t *testing.T, st *store.Store, id string, traits map[string]any) {
	t.Helper()
	now := time.Now().UTC()
	tr := map[string]any{"name": "Acme " + id, "owner": "csm-" + id + "@vendor.example"}
	for k, v := range traits {
		tr[k] = v
	}
	_, err := st.Ingest(context.Background(), "wk", []store.Message{
		{Type: "group", MessageID: "g-" + id, UserID: "sponsor-" + id, GroupID: id, Traits: tr, Timestamp: now, ReceivedAt: now},
		{Type: "identify", MessageID: "i-" + id, UserID: "sponsor-" + id, GroupID: id, Timestamp: now, ReceivedAt: now,
			Traits: map[string]any{"email": "sponsor-" + id + "@customer.example", "role": "sponsor", "first_name": "Zoë"}},
	})
	require.NoError(t, err)
}

func track(t *testing.T, st *store.Store, account, name string) {
	t.Helper()
	now := time.Now().UTC()
	_, err := st.Ingest(context.Background(), "wk", []store.Message{{Type: "track", MessageID: fmt.Sprintf("t-%s-%s-%d", account, name, now.UnixNano()),
		UserID: "sponsor-" + account, GroupID: account, Name: name, Timestamp: now, ReceivedAt: now}})
	require.NoError(t, err)
}

// waitRun polls until the run satisfies ok, failing after 15 seconds.
func waitRun(t *testing.T, st *store.Store, id string, ok func(store.Run) bool) store.Run {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := st.Run(context.Background(), id)
		require.NoError(t, err)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(r, "", "  ")
			t.Fatalf("run did not reach the expected state in time:\n%s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func status(s string) func(store.Run) bool { return func(r store.Run) bool { return r.Status == s } }

func stepStatuses(r store.Run) map[string]string {
	m := map[string]string{}
	for _, s := range r.Steps {
		m[s.Key] = s.Status
	}
	return m
}

// fastConfig retries in milliseconds, so failure paths are testable.
func fastConfig() Config {
	return Config{PollInterval: 20 * time.Millisecond, MaxAttempts: 3, WebhookSecret: testSecret,
		RetryDelay: func(int) time.Duration { return 10 * time.Millisecond },
		Webhook:    notify.SenderConfig{MaxAttempts: 1, Timeout: 5 * time.Second}}
}

func newEngine(t *testing.T, st *store.Store, live *journey.Live, clk *fakeclock.Clock, cfg Config) *Engine {
	t.Helper()
	e, err := New(Options{Store: st, Journey: live, Config: cfg, Now: clk.Now})
	require.NoError(t, err)
	// As internal/app does: the wake-up stage runs on every ingested batch.
	st.OnIngest(e.OnIngest)
	require.NoError(t, e.Start(context.Background()))
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e
}

func decodeSubject(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	require.NoError(t, err)
	return s
}
