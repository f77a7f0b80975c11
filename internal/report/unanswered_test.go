package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestExceptionReportUnansweredSurveys checks unanswered_surveys against
// survey sends counted by hand: two or more surveys sent in the last 180
// days whose link expired without an answer, and none answered.
func TestExceptionReportUnansweredSurveys(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	daysAgo := func(d int) time.Time { return now.Add(-time.Duration(d) * 24 * time.Hour) }
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		tr, msg, ingest := messenger(t, st, now)
		for _, id := range []string{"a", "b", "c", "d", "e"} {
			ingest(msg(store.Message{Type: "group", GroupID: id, Traits: map[string]any{"name": id, "arr": 1000}, Timestamp: daysAgo(300)}),
				msg(store.Message{Type: "identify", UserID: id + "_u", GroupID: id, Traits: map[string]any{"email": id + "@x.example"}, Timestamp: daysAgo(300)}))
			for d := 1; d < 60; d += 3 {
				ingest(msg(store.Message{Type: "track", UserID: id + "_u", GroupID: id, Name: "Report Viewed", Properties: json.RawMessage("{}"), Timestamp: daysAgo(d)}))
			}
		}
		// E's contact answered an NPS survey through another tool 20 days ago.
		ingest(msg(store.Message{Type: "track", UserID: "e_u", GroupID: "e", Name: "Survey Responded",
			Properties: json.RawMessage(`{"kind":"nps","score":8}`), Timestamp: daysAgo(20)}))

		send := npsSender(t, st, daysAgo)
		// A: three sent 100, 60 and 40 days ago, each expired 30 days
		// later without an answer: raised, the latest sent 40 days ago.
		send("a", 100)
		send("a", 60)
		lastA := send("a", 40)
		// B: two expired unanswered, one answered: not raised.
		send("b", 90)
		send("b", 70)
		answered := send("b", 50)
		score := 9
		_, err := st.RecordSurveyAnswer(ctx, answered, &score, "", daysAgo(49))
		require.NoError(t, err)
		// C: one expired unanswered, one still open (sent 10 days ago): not raised.
		send("c", 80)
		send("c", 10)
		// D: two expired unanswered, but sent more than 180 days ago: not raised.
		send("d", 200)
		send("d", 190)
		// E: two expired unanswered, but an answer arrived by another way.
		send("e", 90)
		send("e", 60)

		_, err = tr.Recompute(ctx)
		require.NoError(t, err)
		reasons := func() map[string]string { return reasonTexts(t, st, now, report.ReasonUnansweredSurveys) }
		want := map[string]string{"a": "3 surveys sent in the last 180 days went unanswered (the latest sent " +
			daysAgo(40).Format(time.DateOnly) + "), and none was answered"}
		require.Equal(t, want, reasons())

		// The live path agrees: an event for A keeps the reason.
		ingest(msg(store.Message{Type: "track", UserID: "a_u", GroupID: "a", Name: "Report Viewed", Properties: json.RawMessage("{}"), Timestamp: now}))
		require.Equal(t, want, reasons())

		// A's latest survey answered late (its answer recorded, then its
		// event ingested): the reason goes with the next update.
		_, err = st.RecordSurveyAnswer(ctx, lastA, &score, "", now)
		require.NoError(t, err)
		ingest(msg(store.Message{Type: "track", UserID: "a_u", GroupID: "a", Name: "Survey Responded",
			Properties: json.RawMessage(`{"kind":"nps","score":9}`), Timestamp: now}))
		require.Empty(t, reasons())
	})
}

// messenger registers a health tracker whose clock stands at now, and
// returns it with a function that numbers messages received at now and one
// that ingests them.
func messenger(t *testing.T, st *store.Store, now time.Time) (*tracker.Tracker, func(store.Message) store.Message, func(...store.Message)) {
	tr := tracker.New(st, journey.NewLive(st), tracker.Options{Now: func() time.Time { return now }})
	st.OnIngest(tr.OnIngest)
	n := 0
	msg := func(m store.Message) store.Message {
		n++
		m.MessageID, m.ReceivedAt = fmt.Sprintf("m%d", n), now
		return m
	}
	ingest := func(msgs ...store.Message) {
		t.Helper()
		_, err := st.Ingest(context.Background(), "wk", msgs)
		require.NoError(t, err)
		require.NoError(t, st.WaitIdle(context.Background())) // the stages act after the acknowledgement
	}
	return tr, msg, ingest
}

// reasonTexts returns the text of the reason code of every account of the
// exception report at now that has it.
func reasonTexts(t *testing.T, st *store.Store, now time.Time, code string) map[string]string {
	t.Helper()
	rep, err := report.Exceptions(context.Background(), st, report.ExceptionFilter{}, now)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range rep.Exceptions {
		for _, r := range e.Reasons {
			if r.Code == code {
				out[e.AccountID] = r.Text
			}
		}
	}
	return out
}

// TestSponsorLeftLiveAndRecomputed: an identify call removing a sponsor's
// role raises sponsor_left as the call is ingested, and a full recompute
// from the stored events finds the same.
func TestSponsorLeftLiveAndRecomputed(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	daysAgo := func(d int) time.Time { return now.Add(-time.Duration(d) * 24 * time.Hour) }
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		tr, msg, ingest := messenger(t, st, now)
		for _, id := range []string{"gone", "kept"} {
			boss := id + "_boss"
			ingest(msg(store.Message{Type: "group", GroupID: id, Traits: map[string]any{"name": id, "arr": 1000}, Timestamp: daysAgo(300)}),
				msg(store.Message{Type: "identify", UserID: boss, GroupID: id, Traits: map[string]any{"role": "sponsor"}, Timestamp: daysAgo(300)}),
				msg(store.Message{Type: "track", UserID: boss, GroupID: id, Name: "Executive Meeting Held", Properties: json.RawMessage("{}"), Timestamp: daysAgo(40)}))
			for d := 1; d < 60; d += 2 {
				ingest(msg(store.Message{Type: "track", UserID: id + "_u", GroupID: id, Name: "Report Viewed", Properties: json.RawMessage("{}"), Timestamp: daysAgo(d)}))
			}
		}
		require.Empty(t, reasonTexts(t, st, now, report.ReasonSponsorLeft))
		// The HR sync: gone's sponsor leaves (role removed); kept's gets a
		// new title, which is no change of role.
		ingest(msg(store.Message{Type: "identify", UserID: "gone_boss", Traits: map[string]any{"role": nil, "left_company": true}, Timestamp: daysAgo(10)}),
			msg(store.Message{Type: "identify", UserID: "kept_boss", Traits: map[string]any{"title": "CFO"}, Timestamp: daysAgo(10)}))
		want := map[string]string{"gone": "a sponsor or champion left or changed on " + daysAgo(10).Format(time.DateOnly)}
		require.Equal(t, want, reasonTexts(t, st, now, report.ReasonSponsorLeft), "live")
		h, err := tr.Account(ctx, "gone")
		require.NoError(t, err)
		for _, c := range h.Components {
			if c.Name == "relationship" {
				// Met 40 days ago: 100 × (120 − 40) ÷ 90 = 88.9, halved.
				require.InDelta(t, 100*80.0/90/2, c.Value.Score, 1e-6, c.Reason)
			}
		}

		_, err = tr.Recompute(ctx)
		require.NoError(t, err)
		require.Equal(t, want, reasonTexts(t, st, now, report.ReasonSponsorLeft), "recomputed")
	})
}

// TestBacktestJudgesUnansweredSurveys checks that the backtest judges
// unanswered_surveys as it stood horizon before each outcome, from the
// events (before the history is rebuilt) and from the rebuilt history
// alike: 8 of 12 churners and 2 of 12 renewers had two surveys expire
// unanswered before then, so the reason flags 10 accounts, 8 of them
// churners. One of the two renewers answered a later survey after that
// time: then, it was still flagged.
func TestBacktestJudgesUnansweredSurveys(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	daysAgo := func(d int) time.Time { return now.Add(-time.Duration(d) * 24 * time.Hour) }
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		tr, msg, ingest := messenger(t, st, now)
		send := npsSender(t, st, daysAgo)
		for i := range 24 {
			id := fmt.Sprintf("acct%02d", i)
			churner := i < 12
			ingest(msg(store.Message{Type: "group", GroupID: id, Traits: map[string]any{"name": id, "arr": 1000, "lifecycle_stage": "adoption"},
				Timestamp: daysAgo(300)}),
				msg(store.Message{Type: "identify", UserID: id + "_u", GroupID: id, Traits: map[string]any{"email": id + "@x.example"}, Timestamp: daysAgo(300)}))
			var evs []store.Message
			for d := 2; d < 250; d += 4 {
				evs = append(evs, msg(store.Message{Type: "track", UserID: id + "_u", GroupID: id, Name: "Report Viewed",
					Properties: json.RawMessage("{}"), Timestamp: daysAgo(d)}))
			}
			ingest(evs...)
			if churner {
				ingest(msg(store.Message{Type: "group", GroupID: id, Traits: map[string]any{"lifecycle_stage": "churned"}, Timestamp: daysAgo(1)}))
			}
			if (churner && i < 8) || i == 12 || i == 13 {
				send(id, 120)
				send(id, 90)
			}
			if i == 13 {
				answered := send(id, 20)
				score := 9
				_, err := st.RecordSurveyAnswer(ctx, answered, &score, "", daysAgo(10))
				require.NoError(t, err)
			}
		}
		judged := func() report.ReasonJudged {
			t.Helper()
			b, err := report.BacktestReport(ctx, st, tr, report.OutcomeQuery{HorizonDays: 30, Now: now})
			require.NoError(t, err)
			require.Equal(t, 12, b.Positives)
			require.Len(t, b.Reasons, len(report.BacktestReasons))
			for _, r := range b.Reasons {
				if r.Reason == report.ReasonUnansweredSurveys {
					require.GreaterOrEqual(t, b.Exceptions.Flagged, r.Flagged, "being flagged includes the reason")
					return r
				}
			}
			t.Fatal("no unanswered_surveys row")
			return report.ReasonJudged{}
		}
		check := func(r report.ReasonJudged, what string) {
			t.Helper()
			require.Equal(t, 10, r.Flagged, what)
			require.Equal(t, 8, r.Precision.Hits, what)
			require.Equal(t, 8, r.Recall.Hits, what)
			require.Equal(t, 12, r.Recall.Of, what)
		}
		check(judged(), "scored from the events")
		_, err := tr.RebuildHistory(ctx, tracker.RebuildOptions{Replace: true})
		require.NoError(t, err)
		check(judged(), "read from the rebuilt history")
	})
}

// npsSender returns a function that records an NPS survey sent to the
// contact acct_u of acct sentDaysAgo days ago, whose link expires 30 days
// later, and returns its id.
func npsSender(t *testing.T, st *store.Store, daysAgo func(int) time.Time) func(acct string, sentDaysAgo int) string {
	k := 0
	return func(acct string, sentDaysAgo int) string {
		t.Helper()
		ctx := context.Background()
		k++
		sent, exp := daysAgo(sentDaysAgo), daysAgo(sentDaysAgo-30)
		x := store.SurveySend{ID: fmt.Sprintf("s%d", k), Key: fmt.Sprintf("k%d", k), SurveyID: "nps", Kind: "nps", AccountID: acct,
			ContactID: acct + "_u", CreatedAt: sent, ExpiresAt: &exp}
		_, _, err := st.ReserveSurveySend(ctx, x, sent, sent, func(store.SurveyHistory) store.SurveyDecision { return store.SurveyDecision{} })
		require.NoError(t, err)
		require.NoError(t, st.FinishSurveySend(ctx, x.ID, store.SurveySent, "", sent))
		return x.ID
	}
}
