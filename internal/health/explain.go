package health

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ago says how long ago something happened, in the words of a CS team.
func ago(d time.Duration) string {
	switch {
	case d < time.Hour:
		return "within the last hour"
	case d < 2*time.Hour:
		return "1 hour ago"
	case d < 24*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d/time.Hour))
	case d < 48*time.Hour:
		return "1 day ago"
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

// plural writes a count with its noun: "1 seat", "40 seats".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// fmtScore writes a survey answer without a needless ".0".
func fmtScore(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// who names the contact behind an answer: "sponsor jane@…". An email is
// shortened to its local part, enough for the CSM who knows the account
// and no more for everyone who can read the explanation.
func who(r Response) string {
	name := r.Label
	if name == "" {
		name = r.Contact
	}
	switch {
	case name == "":
		name = "an anonymous contact"
	case strings.Contains(name, "@"):
		name = name[:strings.Index(name, "@")] + "@…"
	case len(name) > 24:
		name = name[:24] + "…"
	}
	if r.Role == "" {
		return name
	}
	return r.Role + " " + name
}
