package server_test

import (
	"context"
	"database/sql"
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

	req, _ := http.NewRequest("GET", f.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+webtest.MetricsToken)
	res, err = http.DefaultClient.Do(req)
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
		// The committer's histograms: one transaction committed.
		`moments_ingest_commit_wait_seconds_count 1`,
		`moments_ingest_commit_seconds_count 1`,
		`moments_ingest_commit_seconds_bucket{le="0.04"}`,
		`moments_sqlite_writer_held_seconds_count{by="account_index"}`,
		`moments_sqlite_writer_held_seconds_count{by="dedupe"}`,
		`moments_sqlite_writer_held_seconds_count{by="checkpoint"}`,
	} {
		require.True(t, strings.Contains(body, want), "metrics lack %q", want)
	}
}

// TestIngestStagesLag reads the ingest stages' lag where an operator
// does: one stored event that no stage has consumed yet shows on
// /healthz and /metrics as one event behind, and as none once the stages
// have caught up.
func TestIngestStagesLag(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite) // no stages run: the event waits
	status, _ := f.Post(t, "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"X","messageId":"1"}]}`)
	require.Equal(t, http.StatusOK, status)
	lag := func() (healthz map[string]any, metrics string) {
		t.Helper()
		status, hz := f.Get(t, "/healthz")
		require.Equal(t, http.StatusOK, status)
		req, _ := http.NewRequest("GET", f.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+webtest.MetricsToken)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return hz["ingest_stages"].(map[string]any), string(raw)
	}
	hz, m := lag()
	require.Equal(t, 1.0, hz["events_behind"])
	require.GreaterOrEqual(t, hz["seconds_behind"].(float64), 0.0)
	require.Contains(t, m, "moments_ingest_stages_lag_events 1\n")

	f.Store.OnIngest(func(context.Context, *sql.Tx, []store.Event) error { return nil })
	require.NoError(t, f.Store.WaitIdle(context.Background()))
	hz, m = lag()
	require.Equal(t, 0.0, hz["events_behind"])
	require.Equal(t, 0.0, hz["seconds_behind"])
	require.Contains(t, m, "moments_ingest_stages_lag_events 0\n")
	require.Contains(t, m, "moments_ingest_stages_lag_seconds 0\n")
}
