package tracker

import (
	"context"
	"database/sql"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/store"
)

// surveyLinkDays is how long a survey without a recorded expiry counts as
// open: the default link lifetime (journey survey rules, link_expires).
const surveyLinkDays = 30

// surveyReplies counts the survey replies of ids over the time
// unanswered_surveys looks at, read in tx.
func (t *Tracker) surveyReplies(ctx context.Context, tx *sql.Tx, ids []string, now time.Time) (map[string]store.SurveyReplies, error) {
	const day = 24 * time.Hour
	return t.st.SurveyRepliesTx(ctx, tx, ids, now.Add(-health.UnansweredSurveysDays*day), now.Add(-surveyLinkDays*day), now)
}

// repliesAt counts the replies to the surveys sent as they stood at now,
// as surveyReplies counts them at the present: sent in the
// UnansweredSurveysDays before now, answered by now, or closed (link
// expired, or older than surveyLinkDays without an expiry) unanswered by
// now. The history's rebuild and the backtest read the past with it.
func repliesAt(sent []store.PastSurvey, now time.Time) store.SurveyReplies {
	const day = 24 * time.Hour
	since, closedBefore := now.Add(-health.UnansweredSurveysDays*day), now.Add(-surveyLinkDays*day)
	var r store.SurveyReplies
	for _, x := range sent {
		if x.SentAt.Before(since) || x.SentAt.After(now) {
			continue
		}
		if x.AnsweredAt != nil && !x.AnsweredAt.After(now) {
			r.Answered++
			continue
		}
		if (x.ExpiresAt != nil && !x.ExpiresAt.After(now)) || (x.ExpiresAt == nil && x.SentAt.Before(closedBefore)) {
			r.Unanswered++
			if x.SentAt.After(r.LastUnanswered) {
				r.LastUnanswered = x.SentAt
			}
		}
	}
	return r
}
