package notify

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type templateAccount struct {
	Name string
	ARR  int
}

func TestRenderEmail(t *testing.T) {
	t.Parallel()
	mapData := map[string]any{
		"account": map[string]any{"name": "Customer Inc", "plan": "growth"},
		"contact": map[string]any{"first_name": "Zoë"},
	}
	tests := []struct {
		name        string
		subject     string
		body        string
		data        any
		wantSubject string
		wantBody    string
		errContains string
	}{
		{
			name:        "map data",
			subject:     "Welcome, {{.account.name}}",
			body:        "Hi {{.contact.first_name}}, you are on {{.account.plan}}.",
			data:        mapData,
			wantSubject: "Welcome, Customer Inc",
			wantBody:    "Hi Zoë, you are on growth.",
		},
		{
			name:        "missing keys render empty, not <no value>",
			subject:     "QBR {{.account.quarter}}",
			body:        "Hi {{.contact.last_name}}!{{.nothing}}",
			data:        mapData,
			wantSubject: "QBR",
			wantBody:    "Hi !",
		},
		{
			name:        "default for a missing value",
			subject:     "Hello",
			body:        `Hi {{.contact.nickname | default "there"}}, {{.contact.first_name | default "there"}}`,
			data:        mapData,
			wantSubject: "Hello",
			wantBody:    "Hi there, Zoë",
		},
		{
			name:        "subject folded to one line",
			subject:     "Renewal\n  for {{.account.name}}\n",
			body:        "x",
			data:        mapData,
			wantSubject: "Renewal for Customer Inc",
			wantBody:    "x",
		},
		{
			name:        "newline in data cannot break the subject",
			subject:     "About {{.name}}",
			body:        "x",
			data:        map[string]any{"name": "Acme\r\nBcc: x@evil.example"},
			wantSubject: "About Acme Bcc: x@evil.example",
			wantBody:    "x",
		},
		{
			name:        "struct data",
			subject:     "{{.Name | upper}}",
			body:        "ARR {{.ARR}}",
			data:        templateAccount{Name: "Customer Inc", ARR: 120000},
			wantSubject: "CUSTOMER INC",
			wantBody:    "ARR 120000",
		},
		{
			name:        "unknown struct field is an error",
			subject:     "x",
			body:        "{{.Owner}}",
			data:        templateAccount{},
			errContains: `email body template cannot be rendered: template: body:1:2: executing "body" at <.Owner>: can't evaluate field Owner`,
		},
		{
			name:        "stepping through a missing value is an error with a hint",
			subject:     "x",
			body:        "{{.account.traits.industry}}",
			data:        mapData,
			errContains: "nil pointer evaluating interface {}.industry (a value on that path is missing; guard it with {{with ...}}...{{end}})",
		},
		{
			name:        "guarded missing value",
			subject:     "x",
			body:        "In {{with .account.traits}}{{.industry}}{{else}}your industry{{end}}",
			data:        mapData,
			wantSubject: "x",
			wantBody:    "In your industry",
		},
		{
			name:        "syntax error names the template and line",
			subject:     "{{.account.name",
			body:        "x",
			data:        mapData,
			errContains: "email subject template does not parse: template: subject:1: unclosed action",
		},
		{
			name:        "unknown function",
			subject:     "x",
			body:        "line one\n{{.x | shout}}",
			errContains: `email body template does not parse: template: body:2: function "shout" not defined`,
		},
		{
			name:        "template too large",
			subject:     "x",
			body:        strings.Repeat("a", MaxTemplateBytes+1),
			errContains: "more than the limit",
		},
		{
			name:        "rendered body too large",
			subject:     "x",
			body:        `{{range .}}{{.}}{{end}}`,
			data:        []string{strings.Repeat("a", MaxBodyBytes/2), strings.Repeat("b", MaxBodyBytes/2), "c"},
			errContains: "email body is longer than the limit",
		},
		{
			name:        "rendered subject too large",
			subject:     "{{.}}",
			body:        "x",
			data:        strings.Repeat("s", MaxSubjectBytes+1),
			errContains: "email subject is longer than the limit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			subject, body, err := RenderEmail(tt.subject, tt.body, tt.data)
			if tt.errContains != "" {
				require.ErrorContains(t, err, tt.errContains)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantSubject, subject)
			require.Equal(t, tt.wantBody, body)
		})
	}
}

func TestCheckEmailTemplates(t *testing.T) {
	t.Parallel()
	require.NoError(t, CheckEmailTemplates("Hi {{.name}}", "{{if .x}}yes{{end}}"))
	require.ErrorContains(t, CheckEmailTemplates("Hi {{.name}}", "{{if .x}}yes"), "email body template does not parse")
	require.ErrorContains(t, CheckEmailTemplates("{{", "x"), "email subject template does not parse")
}
