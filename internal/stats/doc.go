// Package stats holds the small numerical building blocks the reports
// share: proportions and means with confidence intervals, and quantiles.
// Every figure a report shows with an interval comes from here, so that a
// survey's CSAT, a moment's SLA adherence and a driver's outcome rate are
// computed, and can be checked, the same way.
//
// Intervals are 95 % unless a function says otherwise. Functions take plain
// slices and counts and never touch the database.
package stats
