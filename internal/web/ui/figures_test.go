package ui_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
)

// TestHealthReportFiguresAgree checks that the health quadrant's headline
// count, its scatter and its table come from one set of accounts: a
// churned account is in none of them, and the page says it left it out.
func TestHealthReportFiguresAgree(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 12)
	ctx := context.Background()
	_, err := f.store.Ingest(ctx, "key_test", []store.Message{{Type: "group", MessageID: "churn-1", GroupID: f.accounts[3],
		UserID: f.accounts[3] + "-u0", Traits: map[string]any{"lifecycle_stage": vocab.StageChurned}, Timestamp: f.now, ReceivedAt: f.now}})
	require.NoError(t, err)

	c := browserClient(t)
	f.signIn(t, c, viewerEmail)
	status, body := f.page(t, c, "/reports/health")
	require.Equal(t, http.StatusOK, status)

	headline := regexp.MustCompile(`<div class="v">(\d+)</div><div class="l">accounts, health as of today`).FindStringSubmatch(body)
	require.NotNil(t, headline, "the headline count")
	accounts, _ := strconv.Atoi(headline[1])
	plotted := strings.Count(body, `<circle class="pt `)
	unplaced := 0
	if m := regexp.MustCompile(`(\d+) accounts? (is|are) not plotted`).FindStringSubmatch(body); m != nil {
		unplaced, _ = strconv.Atoi(m[1])
	}
	tableSum := 0
	for _, m := range regexp.MustCompile(`</td><td class="num">(\d+)</td><td class="num">\$`).FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[1])
		tableSum += n
	}
	require.Equal(t, 11, accounts, "12 accounts, one churned")
	require.Equal(t, accounts, plotted+unplaced, "the chart plots the accounts counted, or says why not")
	require.Equal(t, accounts, tableSum, "the table counts the same accounts")
	require.NotContains(t, body, `href="/accounts/`+f.accounts[3]+`"`, "the churned account is not plotted")
	require.Contains(t, body, "1 churned account is left out of the counts, the chart and the table")

	// Asking for churned accounts shows them.
	_, body = f.page(t, c, "/reports/health?stage=churned")
	require.Contains(t, body, `<div class="v">1</div><div class="l">accounts, health as of today`)
	require.NotContains(t, body, "left out of the counts")
}

// TestBarChartLabelsFit checks that a bar's value label ends inside the
// chart, however long it is.
func TestBarChartLabelsFit(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 12)
	c := browserClient(t)
	f.signIn(t, c, viewerEmail)
	labels := 0
	for _, p := range []string{"/reports/health", "/reports/exceptions", "/reports/moments", "/reports/time-to-value"} {
		_, body := f.page(t, c, p)
		for _, svg := range regexp.MustCompile(`(?s)<svg class="chart" viewBox="0 0 (\d+) \d+" role="img".*?</svg>`).FindAllStringSubmatch(body, -1) {
			width, _ := strconv.ParseFloat(svg[1], 64)
			// A value label follows its bar: <text x="…">value</text>.
			for _, m := range regexp.MustCompile(`<rect class="bar-[^"]+" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" rx="2"/><text x="([\d.]+)" y="[\d.]+">([^<]+)</text>`).FindAllStringSubmatch(svg[0], -1) {
				labels++
				x, _ := strconv.ParseFloat(m[1], 64)
				// 7 px a character is wider than the chart font draws.
				require.LessOrEqual(t, x+7*float64(len([]rune(m[2]))), width+2, "%s: the label %q is cut off", p, m[2])
			}
		}
	}
	require.Greater(t, labels, 4, "the reports' bar charts were read")
}
