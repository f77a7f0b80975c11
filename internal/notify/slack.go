package notify

import (
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// Limits of Slack's Block Kit. A message past any of them is refused whole
// by Slack with "invalid_blocks", so text is shortened instead.
const (
	slackHeaderMax     = 150
	slackSectionMax    = 3000
	slackFieldMax      = 2000
	slackFieldsPerItem = 10
	slackFallbackMax   = 4000
	slackURLMax        = 3000
)

// SlackMessage is a notification for a Slack channel (or any receiver that
// accepts Slack's incoming-webhook format, such as Mattermost): a title, a
// text, labelled fields shown in two columns, and an optional link shown as
// a button. Sender.Send accepts it, or the result of SlackPayload, as the
// payload of a webhook whose Format is "slack".
type SlackMessage struct {
	Title  string
	Text   string
	Fields map[string]string
	Link   string
}

// slackBody is the JSON body of a Slack incoming webhook. Text is the
// fallback shown in notifications and by clients that do not render blocks.
type slackBody struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []any       `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackButton struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
	URL  string    `json:"url"`
}

// SlackPayload builds the JSON body of a Slack incoming webhook, for a
// Webhook whose Format is "slack".
func SlackPayload(title, text string, fields map[string]string, link string) any {
	return SlackMessage{Title: title, Text: text, Fields: fields, Link: link}.payload()
}

// payload lays the message out as Block Kit blocks: a header, a section of
// text, sections of at most ten fields sorted by label (so the same data
// always reads the same way), and a button for the link.
func (m SlackMessage) payload() slackBody {
	var body slackBody
	fallback := m.Title
	if m.Text != "" {
		if fallback != "" {
			fallback += ": "
		}
		fallback += m.Text
	}
	body.Text = truncate(slackEscape(fallback), slackFallbackMax)

	if m.Title != "" {
		// A header is plain text, which Slack does not parse, so it needs
		// no escaping.
		body.Blocks = append(body.Blocks, slackBlock{Type: "header",
			Text: &slackText{Type: "plain_text", Text: truncate(oneLine(m.Title), slackHeaderMax)}})
	}
	if m.Text != "" {
		body.Blocks = append(body.Blocks, slackBlock{Type: "section",
			Text: &slackText{Type: "mrkdwn", Text: truncate(slackEscape(m.Text), slackSectionMax)}})
	}

	labels := make([]string, 0, len(m.Fields))
	for label := range m.Fields {
		labels = append(labels, label)
	}
	sort.Strings(labels)
	for start := 0; start < len(labels); start += slackFieldsPerItem {
		block := slackBlock{Type: "section"}
		for _, label := range labels[start:min(start+slackFieldsPerItem, len(labels))] {
			field := "*" + slackEscape(oneLine(label)) + "*\n" + slackEscape(m.Fields[label])
			block.Fields = append(block.Fields, slackText{Type: "mrkdwn", Text: truncate(field, slackFieldMax)})
		}
		body.Blocks = append(body.Blocks, block)
	}

	if m.Link != "" {
		if u, err := url.Parse(m.Link); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(m.Link) <= slackURLMax {
			body.Blocks = append(body.Blocks, slackBlock{Type: "actions", Elements: []any{slackButton{
				Type: "button",
				Text: slackText{Type: "plain_text", Text: "Open in Moments"},
				URL:  m.Link,
			}}})
		} else {
			// Slack refuses a whole message whose button has a bad URL; show
			// the link as text so the notification still arrives.
			body.Blocks = append(body.Blocks, slackBlock{Type: "context", Elements: []any{
				slackText{Type: "mrkdwn", Text: truncate(slackEscape(m.Link), slackFieldMax)},
			}})
		}
	}
	return body
}

// slackEscape escapes the three characters Slack's mrkdwn treats as markup.
// Without it, customer data such as an account named "<!channel>" would
// notify a whole channel, and "<https://evil|Pay here>" would render a link.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate shortens s to at most limit bytes on a rune boundary, marking
// the cut with an ellipsis. Slack counts characters, so bytes are the safe
// side of its limits.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const ellipsis = "…"
	cut := limit - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
