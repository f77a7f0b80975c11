package journey

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRegisterStepKind is deliberately not parallel: it changes the
// process-wide registry, and Go runs it to completion (restoring the
// registry) before any parallel test resumes, so the golden files, which
// list the known kinds, never see the test kind.
func TestRegisterStepKind(t *testing.T) {
	t.Cleanup(func() {
		stepKinds.Lock()
		delete(stepKinds.m, "test_note")
		stepKinds.Unlock()
	})
	RegisterStepKind("test_note", func(s Step) []string {
		msgs := UnusedStepFields(s, "title")
		if s.Title == "" {
			msgs = append(msgs, "title is required for a note")
		}
		return msgs
	})
	require.Contains(t, StepKinds(), "test_note")
	src := `version: 1
name: Notes
stages: [{id: delivering, name: Delivering}]
teams: [{id: cs, name: CS}]
moments:
  - id: m
    name: M
    stage: delivering
    owner: cs
    trigger: {category: csm}
    playbook:
      - kind: test_note
        url: https://example.com
      - kind: test_note
        title: fine
`
	_, diags := Lint("notes.yaml", []byte(src))
	var got []string
	for _, d := range diags {
		got = append(got, d.String())
	}
	require.Equal(t, "notes.yaml:12:9: title is required for a note\nnotes.yaml:13:14: url is not used by test_note steps; remove it",
		strings.Join(got, "\n"))
}

// TestSurveySteps shows survey steps linting like email steps: their
// template must name one of the map's surveys.
func TestSurveySteps(t *testing.T) {
	src := `version: 1
name: Surveys
stages: [{id: delivering, name: Delivering}]
teams: [{id: cs, name: CS}]
moments:
  - id: m
    name: M
    stage: delivering
    owner: cs
    trigger: {category: csm}
    playbook:
      - {kind: survey, template: nps, to: sponsor}
      - {kind: survey, template: csat}
surveys:
  - {id: nps, kind: nps, question: Would you recommend us?}
`
	_, diags := Lint("s.yaml", []byte(src))
	require.Len(t, diags, 1)
	require.Equal(t, `s.yaml:13:34: template "csat" is not one of the map's surveys; the surveys are nps`, diags[0].String())
}
