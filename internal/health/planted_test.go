package health_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/health/planted"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/stats"
)

// plantedAUCs scores every planted account horizon before its outcome (a
// churn, or the end of the history for the others) and returns the AUC of
// the default combined score, of a logins-only baseline (logins in the 30
// days before) and of the planted risk itself.
func plantedAUCs(t *testing.T, accounts []*planted.Account, end time.Time, horizon time.Duration) (combined, logins, truth stats.AUC) {
	t.Helper()
	var scoreRisk, loginRisk, planted_ []float64
	var churned []bool
	for _, a := range accounts {
		at := end
		if a.Churned {
			at = a.ChurnAt
		}
		at = at.Add(-horizon)
		evs := a.EventsBefore(at)
		r := health.Scores(health.Recompute(evs, journey.HealthModel{}), a.Info(), journey.HealthModel{}, at)
		scoreRisk = append(scoreRisk, 100-r.Combined.Score)
		n := 0
		for _, e := range evs {
			if e.Name == "Logged In" && e.Timestamp.After(at.Add(-30*24*time.Hour)) {
				n++
			}
		}
		loginRisk = append(loginRisk, -float64(n))
		planted_ = append(planted_, a.Risk)
		churned = append(churned, a.Churned)
	}
	var err error
	combined, err = stats.ComputeAUC(scoreRisk, churned)
	require.NoError(t, err)
	logins, err = stats.ComputeAUC(loginRisk, churned)
	require.NoError(t, err)
	truth, err = stats.ComputeAUC(planted_, churned)
	require.NoError(t, err)
	return combined, logins, truth
}

func TestPlantedChurnIsPredicted(t *testing.T) {
	t.Parallel()
	cfg := planted.DefaultConfig(1)
	accounts := planted.Generate(cfg)
	churners := 0
	for _, a := range accounts {
		if a.Churned {
			churners++
		}
	}
	for _, h := range []int{0, 60} {
		combined, logins, truth := plantedAUCs(t, accounts, cfg.End, time.Duration(h)*24*time.Hour)
		t.Logf("horizon %dd: %d accounts, %d churned; AUC default combined %.3f [%.3f, %.3f], logins only %.3f, planted risk %.3f",
			h, len(accounts), churners, combined.Value, combined.Low, combined.High, logins.Value, truth.Value)
	}
}
