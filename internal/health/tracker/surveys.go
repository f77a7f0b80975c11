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
