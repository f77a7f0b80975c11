package ui_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/webtest"
)

// placement is where the swimlane drew one moment card.
type placement struct {
	team, stage string
	supporters  []string
	cards       int
}

// swimlaneLayout reads the swimlane's structure from the page: the stages
// of the header row in order, and for every moment card the team of its
// row and the stage of its column, counted by position (the nth cell of a
// row is under the nth stage header). It uses encoding/xml in its HTML
// mode, so the test needs no HTML parser dependency.
func swimlaneLayout(t *testing.T, page []byte) (stages []string, cards map[string]*placement) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(page))
	dec.Strict = false
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity
	attr := func(e xml.StartElement, name string) (string, bool) {
		for _, a := range e.Attr {
			if a.Name.Local == name {
				return a.Value, true
			}
		}
		return "", false
	}
	cards = map[string]*placement{}
	var (
		inHead, inBody bool
		team           string
		cell           = -1
		card           *placement
		cardDepth      int
		depth          int
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			switch e.Name.Local {
			case "thead":
				inHead = true
			case "tbody":
				inBody = true
			case "th":
				if s, ok := attr(e, "data-stage"); ok && inHead {
					stages = append(stages, s)
				}
			case "tr":
				if inBody {
					team, _ = attr(e, "data-team")
					cell = -1
				}
			case "td":
				if inBody {
					cell++
					s, _ := attr(e, "data-stage")
					require.Less(t, cell, len(stages), "row %s has more cells than there are stages", team)
					require.Equal(t, stages[cell], s, "cell %d of row %s is under stage %s", cell, team, stages[cell])
				}
			}
			if id, ok := attr(e, "data-moment"); ok && inBody {
				require.Nil(t, card, "cards do not nest")
				p := cards[id]
				if p == nil {
					p = &placement{team: team, stage: stages[cell]}
					cards[id] = p
				}
				p.cards++
				card, cardDepth = p, depth
			}
			if s, ok := attr(e, "data-supporter"); ok && card != nil {
				card.supporters = append(card.supporters, s)
			}
		case xml.EndElement:
			if card != nil && depth == cardDepth {
				card = nil
			}
			depth--
			switch e.Name.Local {
			case "thead":
				inHead = false
			case "tbody":
				inBody = false
			}
		}
	}
	return stages, cards
}

func getPage(t *testing.T, url string) (int, string) {
	t.Helper()
	// Redirects are answers to check, not to follow.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	res, err := client.Do(webtest.WithSession(req))
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	if res.StatusCode != http.StatusSeeOther {
		require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	}
	return res.StatusCode, string(raw)
}

// TestSwimlaneShowsEveryMomentInItsOwnersLane renders /journey for the
// example map and checks that every moment appears once, in its owner's
// row and its stage's column, with its supporters marked.
func TestSwimlaneShowsEveryMomentInItsOwnersLane(t *testing.T) {
	t.Parallel()
	example := webtest.ExampleMap(t)
	m, diags := journey.Parse("example.yaml", example)
	require.Empty(t, diags)
	f := webtest.Setup(t, storetest.Dialects()[0])

	status, page := getPage(t, f.URL+"/journey")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "Apply a journey map: <code>moments map apply examples/b2b-saas.yaml</code>")
	require.NotContains(t, page, "data-moment")
	status, _ = getPage(t, f.URL+"/journey/moments/kickoff")
	require.Equal(t, http.StatusSeeOther, status, "no map yet: back to /journey")

	require.Equal(t, http.StatusOK, f.PutMap(t, example))
	status, page = getPage(t, f.URL+"/journey")
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, page, "Apply a journey map")

	stages, cards := swimlaneLayout(t, []byte(page))
	var want []string
	for _, s := range m.Stages {
		want = append(want, s.ID)
	}
	require.Equal(t, want, stages, "stages across, in map order")
	require.Len(t, cards, len(m.Moments), "every moment, nothing else")
	for _, mo := range m.Moments {
		p := cards[mo.ID]
		require.NotNil(t, p, "moment %s is on the swimlane", mo.ID)
		require.Equal(t, 1, p.cards, "moment %s appears once", mo.ID)
		require.Equal(t, mo.Owner, p.team, "moment %s is in its owner's lane", mo.ID)
		require.Equal(t, mo.Stage, p.stage, "moment %s is in its stage's column", mo.ID)
		if len(mo.Supporters) == 0 {
			require.Empty(t, p.supporters, mo.ID)
		} else {
			require.Equal(t, mo.Supporters, p.supporters, "moment %s marks its supporters", mo.ID)
		}
	}
	// Teams down, in map order.
	var lanes []string
	for _, t := range m.Teams {
		lanes = append(lanes, `<tr class="jm-lane" data-team="`+t.ID+`">`)
	}
	last := -1
	for _, l := range lanes {
		i := strings.Index(page, l)
		require.Greater(t, i, last, "lane %s in map order", l)
		last = i
	}

	// A card carries its importance, trigger category and SLA, and links
	// to the moment's definition.
	for _, s := range []string{
		`href="/journey/moments/contract_signed"`,
		`<b>16</b> high`,
		`<abbr title="revenue">Rv</abbr>4 <abbr title="relationship">Rl</abbr>5 <abbr title="rescue">Rs</abbr>2 <abbr title="retention">Rt</abbr>5`,
		`<span class="jm-cat jm-cat-lifecycle" title="Trigger: lifecycle">lifecycle</span>`,
		`SLA <span class="jm-long">5 business days</span>`,
		`class="jm-legend"`,
		`@media print`,
		`Journey map version 1`,
	} {
		require.Contains(t, page, s)
	}
}

func TestMomentPage(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, storetest.Dialects()[0])
	require.Equal(t, http.StatusOK, f.PutMap(t, webtest.ExampleMap(t)))

	status, page := getPage(t, f.URL+"/journey/moments/contract_signed")
	require.Equal(t, http.StatusOK, status)
	for _, s := range []string{
		`<h1 id="jm-title">Contract signed → kickoff</h1>`,
		"stage Committing · owned by Customer Success",
		"delivered within 5 business days",
		"<h2>Ideal process</h2>",
		"<h2>Trigger</h2>",
		"<h2>Metrics</h2>",
		"<h2>Playbook</h2>",
		`<li class="jm-tag" data-supporter="professional_services">Professional Services</li>`,
	} {
		require.Contains(t, page, s)
	}
	require.Regexp(t, `<tr><td>1</td><td>[^<]+</td><td>[^<]+</td><td>[^<]+</td></tr>`, page, "ideal steps with owners and targets")
	require.Regexp(t, `<span class="jm-kind">task</span>`, page, "playbook steps by kind")

	status, page = getPage(t, f.URL+"/journey/moments/nope")
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, page, `has no moment &#34;nope&#34;`)
}
