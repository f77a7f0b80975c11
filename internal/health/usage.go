package health

import (
	"time"

	"github.com/moments-cs/moments/internal/journey"
)

// MinPreviousActivity is the fewest activity events in the previous window
// for a usage drop to count: below it, a handful of events more or less
// would make a small account's signal flap.
const MinPreviousActivity = 10

// UsageDrop reports the usage_drop signal: whether the activity events in
// the last N days (the model's usage-drop window, ending with now's UTC
// day) are fewer than Ratio times those of the N days before, given at
// least MinPreviousActivity events before. It returns the two counts for
// the explanation.
func UsageDrop(agg *Aggregate, model journey.HealthModel, now time.Time) (dropped bool, last, previous int) {
	if agg == nil {
		return false, 0, 0
	}
	n := usageDropDays(model)
	ratio := model.UsageDrop.Ratio
	if ratio == 0 {
		ratio = journey.DefaultUsageDropRatio
	}
	today := dayOf(now.Unix())
	for _, d := range agg.Days {
		switch {
		case d.Day > today:
		case d.Day > today-n:
			last += d.Count
		case d.Day > today-2*n:
			previous += d.Count
		}
	}
	dropped = previous >= MinPreviousActivity && float64(last) < ratio*float64(previous)
	return dropped, last, previous
}
