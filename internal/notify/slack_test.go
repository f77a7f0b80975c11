package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/golden"
)

func TestSlackPayloadGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload any
	}{
		{
			name: "escalation",
			payload: SlackPayload(
				"Escalation: onboarding call overdue",
				"Customer Inc has not had its kickoff call 3 days after signing. Owner: <@casey> & team.",
				map[string]string{"Account": "Customer Inc", "ARR": "$120,000", "Renewal": "2026-03-31", "Moment": "Kickoff call"},
				"https://moments.acme.example/accounts/acct_1",
			),
		},
		{
			name:    "text only",
			payload: SlackPayload("", "Weekly digest is ready", nil, ""),
		},
		{
			name:    "link that is not a web address",
			payload: SlackPayload("Title", "", nil, "mailto:cs@acme.example"),
		},
		{
			name: "many fields",
			payload: SlackPayload("Fields", "", func() map[string]string {
				m := map[string]string{}
				for i := range 12 {
					m[fmt.Sprintf("Field %02d", i)] = fmt.Sprint(i)
				}
				return m
			}(), ""),
		},
	}
	var out strings.Builder
	for _, tt := range tests {
		// The body exactly as Send posts it, indented for reading.
		body, err := encodeWebhookBody(FormatSlack, tt.payload)
		require.NoError(t, err)
		var indented bytes.Buffer
		require.NoError(t, json.Indent(&indented, body, "", "  "))
		fmt.Fprintf(&out, "=== %s\n%s\n", tt.name, indented.String())
	}
	golden.Assert(t, "testdata/slack_payload.golden", []byte(out.String()))
}

func TestSlackPayloadEscapesMentions(t *testing.T) {
	t.Parallel()
	body, err := encodeWebhookBody(FormatSlack, SlackPayload("<!channel>", "<!here> <https://evil.example|pay>", map[string]string{"<!everyone>": "a&b"}, ""))
	require.NoError(t, err)
	require.NotContains(t, string(body), "<!here>")
	require.NotContains(t, string(body), "<!everyone>")
	require.NotContains(t, string(body), "<https://evil.example|pay>")
	require.Contains(t, string(body), "&lt;!here&gt; &lt;https://evil.example|pay&gt;")
	require.Contains(t, string(body), "a&amp;b")
}

func TestSlackPayloadTruncatesToSlackLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 4000) // 8000 bytes
	p := SlackPayload(long, long, map[string]string{"k": long}, "").(slackBody)
	require.LessOrEqual(t, len(p.Blocks[0].Text.Text), slackHeaderMax)
	require.LessOrEqual(t, len(p.Blocks[1].Text.Text), slackSectionMax)
	require.LessOrEqual(t, len(p.Blocks[2].Fields[0].Text), slackFieldMax)
	require.LessOrEqual(t, len(p.Text), slackFallbackMax)
	require.True(t, strings.HasSuffix(p.Blocks[1].Text.Text, "é…"), "cut on a rune boundary")
}
