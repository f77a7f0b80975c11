package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/web/webtest"
)

func TestHealthzAndMetrics(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	status, _ := f.Post(t, "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"X","messageId":"1"},{"type":"track","userId":"u","event":"X","messageId":"1"}]}`)
	require.Equal(t, http.StatusOK, status)
	status, _ = f.Post(t, "/v1/track", `{"event":"X"}`)
	require.Equal(t, http.StatusBadRequest, status)

	res, err := http.Get(f.URL + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	res, err = http.Get(f.URL + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	body := string(raw)
	for _, want := range []string{
		`moments_events_ingested_total{result="stored"} 1`,
		`moments_events_ingested_total{result="duplicate"} 1`,
		`moments_events_ingested_total{result="rejected"} 1`,
		`moments_http_requests_total{code="400",route="POST /v1/track"} 1`,
		`moments_ingest_duration_seconds_count 1`,
	} {
		require.True(t, strings.Contains(body, want), "metrics lack %q", want)
	}
}
