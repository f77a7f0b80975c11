package journey_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/golden"
	"github.com/moments-cs/moments/internal/journey"
)

func setup(t *testing.T) *journey.Map {
	t.Helper()
	m, diags := journey.Parse("b2b-saas.yaml", readExample(t))
	require.Empty(t, render(diags))
	return m
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	m := setup(t)
	out, err := journey.Marshal(m)
	require.NoError(t, err)

	back, diags := journey.Lint("export.yaml", out)
	require.Empty(t, render(diags), "the export lints clean")
	require.Equal(t, m, back, "the export parses back to an equal map")
	require.Equal(t, journey.Hash(m), journey.Hash(back))

	again, err := journey.Marshal(back)
	require.NoError(t, err)
	require.Equal(t, string(out), string(again), "export is canonical: exporting twice gives the same bytes")
	require.NotContains(t, string(out), " \n", "no trailing spaces")

	golden.Assert(t, "testdata/export/b2b-saas.golden.yaml", out)
}

func TestHashIgnoresFormatting(t *testing.T) {
	t.Parallel()
	a := `version: 1
name: Small
stages: [{id: delivering, name: Delivering}]
teams: [{id: cs, name: CS}]
moments:
  - {id: kickoff, name: Kickoff, stage: delivering, owner: cs, trigger: {category: csm}, supporters: []}
`
	b := `# The same map, written out in block style with comments.
version: 1
name: "Small"
stages:
  - id: delivering
    name: Delivering
teams:
  - id: cs
    name: 'CS'
moments:
  - id: kickoff        # the first call
    name: Kickoff
    stage: delivering
    owner: cs
    trigger:
      category: csm
`
	ma, diags := journey.Parse("a.yaml", []byte(a))
	require.Empty(t, diags)
	mb, diags := journey.Parse("b.yaml", []byte(b))
	require.Empty(t, diags)
	require.Equal(t, journey.Hash(ma), journey.Hash(mb))
	require.Equal(t, string(journey.Canonical(ma)), string(journey.Canonical(mb)))
	require.Len(t, journey.Hash(ma), 64)

	mb.Moments[0].SLA = "2d"
	require.NotEqual(t, journey.Hash(ma), journey.Hash(mb))
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	src := `version: 1
name: Defaults
stages: [{id: delivering, name: Delivering}]
teams: [{id: cs, name: CS}]
moments:
  - id: onboarding
    name: Onboarding
    stage: delivering
    owner: cs
    trigger: {category: lifecycle, enter: onboarding}
    playbook:
      - {kind: task, title: Call}
      - {kind: email, template: hi}
      - {kind: webhook, url: "https://example.com/hook"}
      - {kind: escalate}
health:
  emotional:
    role_weights: {sponsor: 5}
  quadrant: {emotional: 70}
emails: [{id: hi, subject: Hi, body: Hello}]
`
	m, diags := journey.Lint("d.yaml", []byte(src))
	require.Empty(t, render(diags))
	before := journey.Hash(m)
	d := m.WithDefaults()
	require.Equal(t, before, journey.Hash(m), "WithDefaults leaves the map alone")

	h := d.Health
	require.Equal(t, journey.DefaultBehaviouralWeights, h.Behavioural.Weights)
	require.Equal(t, 30, h.Behavioural.WindowDays)
	require.Equal(t, 2, h.Behavioural.RecencyFullDays)
	require.Equal(t, 30, h.Behavioural.RecencyZeroDays)
	require.Equal(t, "seats", h.Behavioural.SeatsTrait)
	require.Equal(t, journey.EmotionalWeights{NPS: 50, CSAT: 25, CES: 10, Support: 15}, h.Emotional.Weights)
	require.Equal(t, 90, h.Emotional.HalfLifeDays)
	require.Equal(t, map[string]float64{"sponsor": 5, "champion": 2, "admin": 1, "user": 1}, h.Emotional.RoleWeights)
	require.Equal(t, 60.0, h.Quadrant.Behavioural)
	require.Equal(t, 70.0, h.Quadrant.Emotional, "a value the map sets is kept")
	require.Equal(t, 14, h.UsageDrop.WindowDays)
	require.Equal(t, 0.5, h.UsageDrop.Ratio)
	require.Equal(t, 0.5, h.Combined)
	require.Equal(t, "lifecycle_stage", d.Moments[0].Trigger.Trait)
	steps := d.Moments[0].Playbook
	require.Equal(t, "owner", steps[0].Assignee)
	require.Equal(t, "contact", steps[1].To)
	require.Equal(t, "json", steps[2].Format)
	require.Equal(t, "high", steps[3].Severity)
	require.Equal(t, "owner", steps[3].Notify)

	out, err := journey.Marshal(m)
	require.NoError(t, err)
	for _, key := range []string{"window_days", "half_life_days", "combined", "lifecycle_stage", "assignee", "champion"} {
		require.NotContains(t, string(out), key, "defaults are not exported")
	}
	// The default map shared by every call must not be changed by one.
	d.Health.Emotional.RoleWeights["user"] = 9
	require.Equal(t, 1.0, journey.DefaultRoleWeights["user"])
	require.Equal(t, 1.0, m.WithDefaults().Health.Emotional.RoleWeights["user"])
}

func TestMarshalQuotesWhatNeedsIt(t *testing.T) {
	t.Parallel()
	m := &journey.Map{
		Version: 1,
		Name:    "yes",
		Stages:  []journey.Stage{{ID: "s", Name: "123"}},
		Teams:   []journey.Team{{ID: "t", Name: "null"}},
		Moments: []journey.Moment{{
			ID: "m", Name: "a: b # c", Stage: "s", Owner: "t",
			Supporters: []string{"t"},
			Trigger: journey.Trigger{
				Category: journey.CategoryCustomerEvent,
				Events:   []string{"Ticket Opened, Urgent", "[x]"},
				When:     `event.properties.kind == "nps" && event.properties.score <= 6`,
			},
		}},
		Emails: []journey.Email{{ID: "e", Subject: "{{.Account.name}}", Body: "line 1\n  indented\n\nline 4\n"}},
	}
	out, err := journey.Marshal(m)
	require.NoError(t, err)
	back, diags := journey.Parse("q.yaml", out)
	require.Empty(t, render(diags), string(out))
	require.Equal(t, m, back, string(out))
	require.True(t, strings.HasPrefix(string(out), "version: 1\nname: \"yes\"\n") || strings.HasPrefix(string(out), "version: 1\nname: 'yes'\n"), string(out))
}
