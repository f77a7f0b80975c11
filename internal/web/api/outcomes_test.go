package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/health/planted"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/webtest"
)

// TestOutcomeReports reads the drivers, the backtest and a calibration of
// a planted customer base through the API, and the errors a user can make.
func TestOutcomeReports(t *testing.T) {
	t.Parallel()
	cfg := planted.DefaultConfig(5)
	cfg.Accounts, cfg.Days = 50, 120
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	a, err := app.New(ctx, st, app.Options{Now: func() time.Time { return cfg.End }})
	require.NoError(t, err)
	msgs := planted.Messages(planted.Generate(cfg), cfg.End)
	for i := 0; i < len(msgs); i += 500 {
		_, err := st.Ingest(ctx, "wk", msgs[i:min(i+500, len(msgs))])
		require.NoError(t, err)
	}
	admin, write, err := a.Keys.Bootstrap(ctx)
	require.NoError(t, err)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	f := &webtest.Fixture{URL: srv.URL, Store: st, WriteKey: write, AdminKey: admin}

	status, body := f.Get(t, "/api/v1/reports/drivers")
	require.Equal(t, http.StatusOK, status, body)
	require.NotEmpty(t, body["drivers"])
	first := body["drivers"].([]any)[0].(map[string]any)
	for _, k := range []string{"signal", "significant", "direction", "effect", "effect_low", "effect_high", "with", "without", "lift"} {
		require.Contains(t, first, k)
	}

	status, body = f.Get(t, "/api/v1/reports/health-backtest?horizon=30d")
	require.Equal(t, http.StatusOK, status, body)
	require.Greater(t, body["auc"], 0.5)
	require.Equal(t, 30.0, body["horizon_days"])
	require.Positive(t, body["positives"])
	require.Positive(t, body["accounts"])

	code, ct, csv := f.GetRaw(t, "/api/v1/reports/health-backtest?horizon=30d", "text/csv")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, ct, "text/csv")
	require.True(t, strings.HasPrefix(string(csv), "decile,min_score"))

	req, err := http.NewRequest("POST", srv.URL+"/api/v1/health/calibrate?horizon=30d", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+admin)
	status, body = webtest.Do(t, req)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "holdout_auc")
	require.Contains(t, body, "default_auc")
	require.Contains(t, body["section"], "health:")

	c, field := f.GetError(t, "/api/v1/reports/drivers?outcome=account.lifecycle_stage%20%3D%3D", http.StatusBadRequest)
	require.Equal(t, "invalid_parameter", c)
	require.Equal(t, "outcome", field)
	_, field = f.GetError(t, "/api/v1/reports/health-backtest?horizon=soon", http.StatusBadRequest)
	require.Equal(t, "horizon", field)
	c, _ = f.GetError(t, "/api/v1/reports/drivers?outcome=account.id%20%3D%3D%20%22acct_001%22", http.StatusUnprocessableEntity)
	require.Equal(t, "too_few_outcomes", c)
}
