package journey_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/golden"
	"github.com/moments-cs/moments/internal/journey"
)

func TestDiffIdentical(t *testing.T) {
	t.Parallel()
	m := setup(t)
	require.Empty(t, journey.Diff(m, m.Clone()))
	require.Equal(t, "no changes\n", journey.FormatChanges(nil))
}

func TestDiff(t *testing.T) {
	t.Parallel()
	old := setup(t)
	changed := old.Clone()

	changed.Name = "Northwind journey, 2025"
	// Moment changes: owner, SLA, condition and one playbook step.
	kickoff := &changed.Moments[slices.IndexFunc(changed.Moments, func(m journey.Moment) bool { return m.ID == "contract_signed" })]
	kickoff.SLA = "3bd"
	kickoff.Playbook[2].Due = "3bd"
	kickoff.Supporters = append(kickoff.Supporters, "product")
	lowNPS := &changed.Moments[slices.IndexFunc(changed.Moments, func(m journey.Moment) bool { return m.ID == "low_nps" })]
	lowNPS.Trigger.When = `event.properties.kind == "nps" && event.properties.score <= 5`
	lowNPS.Importance.Rescue = 4
	// A moment removed and one added.
	changed.Moments = slices.DeleteFunc(changed.Moments, func(m journey.Moment) bool { return m.ID == "monthly_checkin" })
	changed.Moments = append(changed.Moments, journey.Moment{
		ID: "churn_risk", Name: "Churn risk", Stage: "growing", Owner: "customer_success",
		Trigger: journey.Trigger{Category: journey.CategoryCSM},
	})
	// Stages reordered, a team renamed and one added.
	changed.Stages[0], changed.Stages[1] = changed.Stages[1], changed.Stages[0]
	changed.Teams[0].Name = "Sales & Partnerships"
	changed.Teams = append(changed.Teams, journey.Team{ID: "legal", Name: "Legal"})
	// Health, a success path, an email and a survey.
	changed.Health.Behavioural.Weights.Recency = 30
	changed.Health.Quadrant.Plays["champion"] = "Ask for a case study"
	changed.SuccessPaths[0].Milestones[2].TargetDays = 12
	changed.Emails[0].Subject = "Welcome aboard"
	changed.Surveys = changed.Surveys[:len(changed.Surveys)-1]

	changes := journey.Diff(old, changed)
	golden.Assert(t, "testdata/diff/b2b-saas.golden", []byte(journey.FormatChanges(changes)))

	require.Contains(t, changes, journey.Change{
		Kind: journey.ChangeChanged, Area: journey.AreaMoment, ID: "low_nps", Name: "Low NPS",
		Fields: []string{"importance.rescue", "trigger.when"},
	})
	require.Contains(t, changes, journey.Change{
		Kind: journey.ChangeRemoved, Area: journey.AreaMoment, ID: "monthly_checkin", Name: "Monthly check-in",
		Detail: "stage delivering, owner customer_success",
	})

	// The reverse diff undoes it: what was added is removed.
	back := journey.Diff(changed, old)
	require.Contains(t, back, journey.Change{
		Kind: journey.ChangeRemoved, Area: journey.AreaMoment, ID: "churn_risk", Name: "Churn risk",
		Detail: "stage growing, owner customer_success",
	})
}

func TestDiffFromNothing(t *testing.T) {
	t.Parallel()
	m := setup(t)
	changes := journey.Diff(nil, m)
	added := 0
	for _, c := range changes {
		if c.Kind == journey.ChangeAdded && c.Area == journey.AreaMoment {
			added++
		}
	}
	require.Equal(t, len(m.Moments), added)
}
