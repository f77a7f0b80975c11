package paths

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
)

var start = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

// at returns the contract start plus d days and h hours.
func at(d, h int) time.Time {
	return start.Add(time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour)
}

func dur(d, h int) *time.Duration {
	x := time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour
	return &x
}

var onboarding = journey.SuccessPath{
	ID:   "onboarding",
	Name: "Self-serve onboarding",
	Milestones: []journey.Milestone{
		{ID: "kickoff", Name: "Kickoff held", TargetDays: 7, Events: []string{"Kickoff Held"}},
		{ID: "integrated", Name: "Data connected", TargetDays: 14, Events: []string{"Integration Connected", "CSV Imported"}, Implemented: true},
		{ID: "first-report", Name: "First report shared", TargetDays: 30, Events: []string{"Report Shared"}, Value: true},
		{ID: "trained", Name: "Team trained", TargetDays: 45, When: "account.trained_users >= 5", Implemented: true},
	},
}

func TestCompute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reached map[string]time.Time
		start   time.Time
		now     time.Time
		want    Progress
	}{
		{
			name:  "nothing reached, on time",
			start: start, now: at(3, 0),
			want: Progress{
				PathID: "onboarding", Total: 4, Next: &onboarding.Milestones[0],
				Milestones: []MilestoneStatus{
					{ID: "kickoff", Name: "Kickoff held", TargetDays: 7, Due: at(7, 0)},
					{ID: "integrated", Name: "Data connected", TargetDays: 14, Due: at(14, 0)},
					{ID: "first-report", Name: "First report shared", TargetDays: 30, Due: at(30, 0)},
					{ID: "trained", Name: "Team trained", TargetDays: 45, Due: at(45, 0)},
				},
			},
		},
		{
			name: "kickoff late, next one 3 whole days behind",
			reached: map[string]time.Time{
				"kickoff": at(9, 0),
			},
			start: start, now: at(17, 23),
			want: Progress{
				PathID: "onboarding", Reached: 1, Total: 4, Fraction: 0.25,
				Next: &onboarding.Milestones[1], DaysBehind: 3,
				Milestones: []MilestoneStatus{
					{ID: "kickoff", Name: "Kickoff held", TargetDays: 7, ReachedAt: new(at(9, 0)), Due: at(7, 0), Late: true},
					{ID: "integrated", Name: "Data connected", TargetDays: 14, Due: at(14, 0), Late: true},
					{ID: "first-report", Name: "First report shared", TargetDays: 30, Due: at(30, 0)},
					{ID: "trained", Name: "Team trained", TargetDays: 45, Due: at(45, 0)},
				},
			},
		},
		{
			name: "reached out of order: value before integration",
			reached: map[string]time.Time{
				"kickoff":      at(2, 0),
				"first-report": at(12, 6),
			},
			start: start, now: at(13, 0),
			want: Progress{
				PathID: "onboarding", Reached: 2, Total: 4, Fraction: 0.5,
				Next: &onboarding.Milestones[1], TimeToValue: dur(12, 6),
				Milestones: []MilestoneStatus{
					{ID: "kickoff", Name: "Kickoff held", TargetDays: 7, ReachedAt: new(at(2, 0)), Due: at(7, 0)},
					{ID: "integrated", Name: "Data connected", TargetDays: 14, Due: at(14, 0)},
					{ID: "first-report", Name: "First report shared", TargetDays: 30, ReachedAt: new(at(12, 6)), Due: at(30, 0)},
					{ID: "trained", Name: "Team trained", TargetDays: 45, Due: at(45, 0)},
				},
			},
		},
		{
			name: "all reached: implementation ends with the last implemented milestone",
			reached: map[string]time.Time{
				"kickoff":      at(2, 0),
				"integrated":   at(10, 0),
				"first-report": at(20, 0),
				"trained":      at(50, 0),
				"unrelated":    at(1, 0),
			},
			start: start, now: at(60, 0),
			want: Progress{
				PathID: "onboarding", Reached: 4, Total: 4, Fraction: 1,
				TimeToValue: dur(20, 0), TimeToImplementation: dur(50, 0),
				Milestones: []MilestoneStatus{
					{ID: "kickoff", Name: "Kickoff held", TargetDays: 7, ReachedAt: new(at(2, 0)), Due: at(7, 0)},
					{ID: "integrated", Name: "Data connected", TargetDays: 14, ReachedAt: new(at(10, 0)), Due: at(14, 0)},
					{ID: "first-report", Name: "First report shared", TargetDays: 30, ReachedAt: new(at(20, 0)), Due: at(30, 0)},
					{ID: "trained", Name: "Team trained", TargetDays: 45, ReachedAt: new(at(50, 0)), Due: at(45, 0), Late: true},
				},
			},
		},
		{
			name: "reached during the trial: time to value is zero, not negative",
			reached: map[string]time.Time{
				"first-report": at(-5, 0),
			},
			start: start, now: at(1, 0),
			want: Progress{
				PathID: "onboarding", Reached: 1, Total: 4, Fraction: 0.25,
				Next: &onboarding.Milestones[0], TimeToValue: dur(0, 0),
				Milestones: []MilestoneStatus{
					{ID: "kickoff", Name: "Kickoff held", TargetDays: 7, Due: at(7, 0)},
					{ID: "integrated", Name: "Data connected", TargetDays: 14, Due: at(14, 0)},
					{ID: "first-report", Name: "First report shared", TargetDays: 30, ReachedAt: new(at(-5, 0)), Due: at(30, 0)},
					{ID: "trained", Name: "Team trained", TargetDays: 45, Due: at(45, 0)},
				},
			},
		},
		{
			name: "contract start unknown: no dates, no lateness, no durations",
			reached: map[string]time.Time{
				"kickoff":      at(2, 0),
				"first-report": at(20, 0),
				"integrated":   {}, // a zero time is not a reach
			},
			now: at(100, 0),
			want: Progress{
				PathID: "onboarding", Reached: 2, Total: 4, Fraction: 0.5,
				Next: &onboarding.Milestones[1],
				Milestones: []MilestoneStatus{
					{ID: "kickoff", Name: "Kickoff held", TargetDays: 7, ReachedAt: new(at(2, 0))},
					{ID: "integrated", Name: "Data connected", TargetDays: 14},
					{ID: "first-report", Name: "First report shared", TargetDays: 30, ReachedAt: new(at(20, 0))},
					{ID: "trained", Name: "Team trained", TargetDays: 45},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Compute(onboarding, tt.reached, tt.start, tt.now)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestComputeEmptyPathAndNoAliasing(t *testing.T) {
	t.Parallel()
	got := Compute(journey.SuccessPath{ID: "empty"}, nil, start, at(1, 0))
	require.Equal(t, Progress{PathID: "empty"}, got)

	p := Compute(onboarding, nil, start, at(1, 0))
	p.Next.Name = "changed"
	require.Equal(t, "Kickoff held", onboarding.Milestones[0].Name, "Next is a copy")
}

func TestChoose(t *testing.T) {
	t.Parallel()
	paths := []journey.SuccessPath{
		{ID: "enterprise", When: `account.plan == "enterprise"`},
		{ID: "broken", When: `account.plan ==`},
		{ID: "self-serve", When: `account.plan == "starter"`},
		{ID: "everyone"},
	}
	// A stand-in for the CEL evaluator that knows these conditions.
	eval := func(expr string, account map[string]any) (bool, error) {
		switch expr {
		case `account.plan == "enterprise"`:
			return account["plan"] == "enterprise", nil
		case `account.plan == "starter"`:
			return account["plan"] == "starter", nil
		}
		return false, errors.New("syntax error")
	}
	tests := []struct {
		name    string
		paths   []journey.SuccessPath
		account map[string]any
		eval    func(string, map[string]any) (bool, error)
		want    string // "" for nil
	}{
		{"first match wins", paths, map[string]any{"plan": "enterprise"}, eval, "enterprise"},
		{"a broken condition is skipped", paths, map[string]any{"plan": "starter"}, eval, "self-serve"},
		{"empty when matches all", paths, map[string]any{"plan": "pro"}, eval, "everyone"},
		{"no evaluator: only empty when", paths, map[string]any{"plan": "enterprise"}, nil, "everyone"},
		{"nothing matches", paths[:3], map[string]any{"plan": "pro"}, eval, ""},
		{"no paths", nil, map[string]any{}, eval, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Choose(tt.paths, tt.account, tt.eval)
			if tt.want == "" {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			require.Equal(t, tt.want, got.ID)
		})
	}
}

func TestReached(t *testing.T) {
	t.Parallel()
	tests := []struct {
		milestone journey.Milestone
		event     string
		want      bool
	}{
		{onboarding.Milestones[1], "Integration Connected", true},
		{onboarding.Milestones[1], "CSV Imported", true},
		{onboarding.Milestones[1], "csv imported", false},
		{onboarding.Milestones[1], "Report Shared", false},
		{onboarding.Milestones[3], "Team Trained", false}, // condition-driven only
		{onboarding.Milestones[0], "", false},
	}
	for _, tt := range tests {
		t.Run(tt.milestone.ID+"/"+tt.event, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Reached(tt.milestone, tt.event))
		})
	}
	require.Equal(t, []journey.Milestone{onboarding.Milestones[2]}, ReachedBy(onboarding, "Report Shared"))
	require.Nil(t, ReachedBy(onboarding, "Logged In"))
}
