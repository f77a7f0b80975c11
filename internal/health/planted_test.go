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
// classicModel has the five behavioural weights the score had before
// intensity, trend, relationship and support load.
var classicModel = journey.HealthModel{Behavioural: journey.BehaviouralModel{
	Weights: journey.BehaviouralWeights{Recency: 25, Frequency: 25, Breadth: 20, Depth: 15, Progress: 15}}}

func plantedAUCs(t *testing.T, accounts []*planted.Account, end time.Time, horizon time.Duration, model journey.HealthModel) (combined, logins, truth stats.AUC) {
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
		r := health.Scores(health.Recompute(evs, model), a.Info(), model, at)
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
		combined, logins, truth := plantedAUCs(t, accounts, cfg.End, time.Duration(h)*24*time.Hour, journey.HealthModel{})
		classic, _, _ := plantedAUCs(t, accounts, cfg.End, time.Duration(h)*24*time.Hour, classicModel)
		t.Logf("horizon %dd: %d accounts, %d churned; AUC default combined %.3f [%.3f, %.3f], classic weights %.3f, logins only %.3f, planted risk %.3f",
			h, len(accounts), churners, combined.Value, combined.Low, combined.High, classic.Value, logins.Value, truth.Value)
		require.Greater(t, combined.Value, logins.Value+0.04, "the default score beats counting logins")
		require.Greater(t, combined.Value, classic.Value+0.01, "the new components add to the classic five")
		require.Less(t, combined.Value, truth.Value, "no score knows more than the planted risk")
	}
}
