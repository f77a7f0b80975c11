package report

import (
	"context"
	"time"

	"github.com/moments-cs/moments/internal/store"
)

// addWarnings adds the reasons health raised by itself (low health,
// declining usage, sponsor left, as stored when each account was last
// scored) to the report: to an account's row when it is already there, as
// a new row otherwise. It returns how many rows it added.
func addWarnings(ctx context.Context, st *store.Store, f store.HealthFilter, now time.Time, rep *ExceptionReport) (int, error) {
	warned, err := st.WarnedAccounts(ctx, f)
	if err != nil {
		return 0, err
	}
	row := make(map[string]int, len(rep.Exceptions))
	for i, e := range rep.Exceptions {
		row[e.AccountID] = i
	}
	added := 0
	for _, w := range warned {
		var reasons []Reason
		for i, code := range w.Warnings.Codes {
			text := ""
			if i < len(w.Warnings.Texts) {
				text = w.Warnings.Texts[i]
			}
			reasons = append(reasons, Reason{Code: code, Text: text})
		}
		if i, ok := row[w.Account.ID]; ok {
			rep.Exceptions[i].Reasons = append(rep.Exceptions[i].Reasons, reasons...)
			continue
		}
		a := w.Account
		e := Exception{AccountID: a.ID, AccountName: a.Name, Owner: a.Owner, Segment: a.Segment, Stage: a.LifecycleStage,
			ARRAtRisk: a.ARR, RenewalDate: a.RenewalDate, Quadrant: w.Quadrant, Combined: w.Combined, Reasons: reasons}
		e.Priority, e.DaysToRenewal = priority(a, now)
		rep.Exceptions = append(rep.Exceptions, e)
		added++
	}
	return added, nil
}
