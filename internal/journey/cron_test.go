package journey

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// bits is the set of a cron field holding the given values.
func bits(vs ...int) uint64 {
	var set uint64
	for _, v := range vs {
		set |= 1 << v
	}
	return set
}

// span is the set of a cron field holding lo..hi stepping by step.
func span(lo, hi, step int) uint64 {
	var set uint64
	for v := lo; v <= hi; v += step {
		set |= 1 << v
	}
	return set
}

func TestParseCronFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want Cron
	}{
		{"* * * * *", Cron{
			minute: span(0, 59, 1), hour: span(0, 23, 1), dom: span(1, 31, 1), month: span(1, 12, 1),
			dow: span(0, 7, 1), domAny: true, dowAny: true,
		}},
		{"0,15,30,45 9-17 * * 1-5", Cron{
			minute: bits(0, 15, 30, 45), hour: span(9, 17, 1), dom: span(1, 31, 1), month: span(1, 12, 1),
			dow: bits(1, 2, 3, 4, 5), domAny: true,
		}},
		{"*/15 */6 1-31/10 */3 *", Cron{
			minute: bits(0, 15, 30, 45), hour: bits(0, 6, 12, 18), dom: bits(1, 11, 21, 31), month: bits(1, 4, 7, 10),
			dow: span(0, 7, 1), dowAny: true,
		}},
		// A single value with a step runs to the end of the field.
		{"5/20 9 1 * *", Cron{
			minute: bits(5, 25, 45), hour: bits(9), dom: bits(1), month: span(1, 12, 1), dow: span(0, 7, 1), dowAny: true,
		}},
		{"30 8-17/3 * * mon-fri", Cron{
			minute: bits(30), hour: bits(8, 11, 14, 17), dom: span(1, 31, 1), month: span(1, 12, 1),
			dow: bits(1, 2, 3, 4, 5), domAny: true,
		}},
		{"0 9 ? JAN-Mar,dec MON", Cron{
			minute: bits(0), hour: bits(9), dom: span(1, 31, 1), month: bits(1, 2, 3, 12), dow: bits(1), domAny: true,
		}},
		// 7 is Sunday, as is 0.
		{"0 9 * * 7", Cron{
			minute: bits(0), hour: bits(9), dom: span(1, 31, 1), month: span(1, 12, 1), dow: bits(0, 7), domAny: true,
		}},
		{"0 9 * * fri-7", Cron{
			minute: bits(0), hour: bits(9), dom: span(1, 31, 1), month: span(1, 12, 1), dow: bits(0, 5, 6, 7), domAny: true,
		}},
		// Both days restricted: neither is "any".
		{"  0   0 13 *  fri ", Cron{
			minute: bits(0), hour: bits(0), dom: bits(13), month: span(1, 12, 1), dow: bits(5),
		}},
		// A stepped * restricts the field: it is not "any".
		{"0 0 */10 * 1", Cron{
			minute: bits(0), hour: bits(0), dom: bits(1, 11, 21, 31), month: span(1, 12, 1), dow: bits(1),
		}},
		{"59 23 31 12 0", Cron{
			minute: bits(59), hour: bits(23), dom: bits(31), month: bits(12), dow: bits(0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCron(tt.expr)
			require.NoError(t, err)
			require.Equal(t, tt.want, *got)
		})
	}
}

func TestParseCronErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ expr, want string }{
		{"", `every "" is not a calendar rule or a five-field cron expression`},
		{"0 9 * *", `every "0 9 * *" is not a calendar rule or a five-field cron expression`},
		{"0 9 * * * *", `every "0 9 * * * *" is not a calendar rule or a five-field cron expression`},
		{"fortnightly", `every "fortnightly" is not a calendar rule or a five-field cron expression`},
		{"60 9 * * *", `cron "60 9 * * *", minute field: "60" is outside 0–59`},
		{"0 24 * * *", `cron "0 24 * * *", hour field: "24" is outside 0–23`},
		{"0 9 0 * *", `cron "0 9 0 * *", day of month field: "0" is outside 1–31`},
		{"0 9 32 * *", `cron "0 9 32 * *", day of month field: "32" is outside 1–31`},
		{"0 9 * 0 *", `cron "0 9 * 0 *", month field: "0" is outside 1–12`},
		{"0 9 * 13 *", `cron "0 9 * 13 *", month field: "13" is outside 1–12`},
		{"0 9 * * 8", `cron "0 9 * * 8", day of week field: "8" is outside 0–7`},
		{"0 9 * * 1-8", `cron "0 9 * * 1-8", day of week field: "1-8" is outside 0–7`},
		{"0 9 * * 5-1", `cron "0 9 * * 5-1", day of week field: "5-1" runs backwards; write the smaller value first`},
		{"0 9 * nov-feb *", `cron "0 9 * nov-feb *", month field: "nov-feb" runs backwards; write the smaller value first`},
		{"*/0 9 * * *", `cron "*/0 9 * * *", minute field: step "0" is not a positive number`},
		{"*/ 9 * * *", `cron "*/ 9 * * *", minute field: step "" is not a positive number`},
		{"0 */x * * *", `cron "0 */x * * *", hour field: step "x" is not a positive number`},
		{"0 9 * * 1/-2", `cron "0 9 * * 1/-2", day of week field: step "-2" is not a positive number`},
		{"a 9 * * *", `cron "a 9 * * *", minute field: "a" is not a number`},
		{"0 9 * * 1,,5", `cron "0 9 * * 1,,5", day of week field: "" is not a number`},
		{"0 9 * * foo", `cron "0 9 * * foo", day of week field: "foo" is not a number or a day name (sun, mon, …, sat)`},
		{"0 9 * smarch *", `cron "0 9 * smarch *", month field: "smarch" is not a number or a month name (jan, feb, …, dec)`},
		// Names belong to their own field: "jan" is not Monday, "mon" is not January.
		{"0 9 * * jan", `cron "0 9 * * jan", day of week field: "jan" is not a number or a day name (sun, mon, …, sat)`},
		{"0 9 * mon *", `cron "0 9 * mon *", month field: "mon" is not a number or a month name (jan, feb, …, dec)`},
		{"mon 9 * * *", `cron "mon 9 * * *", minute field: "mon" is not a number`},
		{"0 9 jan * *", `cron "0 9 jan * *", day of month field: "jan" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			_, err := ParseCron(tt.expr)
			require.EqualError(t, err, tt.want)
		})
	}
}
