package survey

import (
	"context"
	"fmt"
	"time"

	"github.com/moments-cs/moments/internal/store"
)

// ResponseWindow is how far back an account's response rate looks.
const ResponseWindow = 365 * 24 * time.Hour

// settleAfter is how long a survey is given before it counts as
// unanswered: the default reminder delay, so a survey sent this morning
// does not count against anyone yet.
const settleAfter = 3 * 24 * time.Hour

// Response is how an account's people answer Moments' surveys: of the
// surveys sent over the last year that had time to be answered, how many
// were. Non-response is a signal too: people who stop answering have
// often stopped caring.
type Response struct {
	Sent     int     `json:"sent"`
	Answered int     `json:"answered"`
	Rate     float64 `json:"response_rate"`
	// LastUnanswered counts the unanswered among the last (at most three)
	// surveys, for the explanation.
	LastUnanswered int `json:"last_unanswered"`
	LastN          int `json:"last_n"`
	// Explanation says it in words: "2 of the last 3 surveys unanswered".
	Explanation string `json:"explanation"`
}

// AccountResponse returns the account's survey response.
func (s *Service) AccountResponse(ctx context.Context, accountID string) (Response, error) {
	now := s.now()
	sends, err := s.st.SurveySends(ctx, store.SurveySendFilter{AccountID: accountID, Since: now.Add(-ResponseWindow)})
	if err != nil {
		return Response{}, err
	}
	return responseOf(sends, now), nil
}

// responseOf computes the response from sends, newest first.
func responseOf(sends []store.SurveySend, now time.Time) Response {
	var r Response
	for _, x := range sends {
		if x.Status != store.SurveySent || x.SentAt == nil {
			continue
		}
		answered := x.Score != nil
		if !answered && now.Sub(*x.SentAt) < settleAfter {
			continue
		}
		r.Sent++
		if answered {
			r.Answered++
		}
		if r.LastN < 3 {
			r.LastN++
			if !answered {
				r.LastUnanswered++
			}
		}
	}
	if r.Sent == 0 {
		r.Explanation = "no survey sent in the last year"
		return r
	}
	r.Rate = float64(r.Answered) / float64(r.Sent)
	word := "surveys"
	if r.LastN == 1 {
		word = "survey"
	}
	r.Explanation = fmt.Sprintf("%d of the last %d %s unanswered", r.LastUnanswered, r.LastN, word)
	return r
}
