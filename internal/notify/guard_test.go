package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWebhookRefusesPrivateTargets: webhooks cannot reach the server's own
// network (loopback, link-local such as the cloud metadata address,
// private ranges), checked on the address actually dialled so a name that
// resolves there (or is rebound to it) is refused too; --webhook-allow
// lets chosen networks or hosts through.
func TestWebhookRefusesPrivateTargets(t *testing.T) {
	t.Parallel()
	var (
		calls  atomic.Int64
		strict *Sender
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	u, err := url.Parse(recv.URL)
	require.NoError(t, err)
	port := u.Port()

	strict, err = NewSender(SenderConfig{MaxAttempts: 1})
	require.NoError(t, err)
	for _, target := range []string{recv.URL, "http://localhost:" + port, "http://169.254.169.254/latest/meta-data/",
		"http://10.1.2.3:8080/hook", "http://[::1]:" + port, "http://0.0.0.0:" + port, "http://100.64.0.1/"} {
		d, err := strict.Send(context.Background(), Webhook{URL: target}, "k1", map[string]string{"a": "b"})
		require.Error(t, err, target)
		require.False(t, d.Delivered)
		require.Contains(t, err.Error(), "--webhook-allow", target)
	}
	require.Zero(t, calls.Load(), "no private target was called")

	for _, allow := range [][]string{{"127.0.0.0/8"}, {"127.0.0.1"}, {"localhost"}} {
		open, err := NewSender(SenderConfig{MaxAttempts: 1, Allow: allow})
		require.NoError(t, err)
		target := recv.URL
		if allow[0] == "localhost" {
			target = "http://localhost:" + port
		}
		d, err := open.Send(context.Background(), Webhook{URL: target}, "k1", map[string]string{"a": "b"})
		require.NoError(t, err, "allowed by %v", allow)
		require.True(t, d.Delivered)
	}
	_, err = NewSender(SenderConfig{Allow: []string{"10.0.0.0/33"}})
	require.ErrorContains(t, err, "10.0.0.0/33")
}

// TestWebhookFailureKeepsOnlyTheStatus: a failed answer's body (which
// could be an internal page) is neither stored nor put in the error.
func TestWebhookFailureKeepsOnlyTheStatus(t *testing.T) {
	t.Parallel()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("root:x:0:0:root:/root:/bin/bash"))
	}))
	t.Cleanup(recv.Close)
	s, err := NewSender(SenderConfig{MaxAttempts: 1, Allow: []string{"127.0.0.1/32"}})
	require.NoError(t, err)
	d, err := s.Send(context.Background(), Webhook{URL: recv.URL}, "k1", map[string]string{"a": "b"})
	require.Error(t, err)
	require.Equal(t, http.StatusBadRequest, d.StatusCode)
	require.Empty(t, d.ResponseBody)
	require.NotContains(t, err.Error(), "root:x")
	require.NotContains(t, d.LastError, "root:x")
}
