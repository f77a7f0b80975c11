package journey

import (
	"fmt"
	"strings"
)

// suggest returns the candidate nearest to got, or "" when none is near
// enough to be a likely typo. Nearness is the optimal string alignment
// distance (a swap of two letters counts as one edit), compared without
// regard to case.
func suggest(got string, candidates []string) string {
	if got == "" {
		return ""
	}
	lg := strings.ToLower(got)
	// A clear prefix ("customer" for "customer_event") is a likely slip
	// even though many letters are missing.
	if len(lg) >= 4 {
		var prefixed []string
		for _, c := range candidates {
			if c != got && strings.HasPrefix(strings.ToLower(c), lg) {
				prefixed = append(prefixed, c)
			}
		}
		if len(prefixed) == 1 {
			return prefixed[0]
		}
	}
	best, bestDist := "", 1<<30
	for _, c := range candidates {
		if c == got {
			continue
		}
		d := editDistance(lg, strings.ToLower(c))
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	// A short word tolerates one edit, a longer one two, a long one three;
	// more than that is a different word, not a typo.
	allowed := 1
	switch n := len([]rune(got)); {
	case n >= 12:
		allowed = 3
	case n >= 5:
		allowed = 2
	}
	if bestDist <= allowed {
		return best
	}
	return ""
}

// hint formats the suggestion for got as "; did you mean "x"?", or, when
// there is none, "; " followed by otherwise (which lists what is allowed).
func hint(got string, candidates []string, otherwise string) string {
	if s := suggest(got, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	if otherwise == "" {
		return ""
	}
	return "; " + otherwise
}

// didYouMean formats the suggestion for got as "; did you mean "x"?", or ""
// when there is none.
func didYouMean(got string, candidates []string) string {
	if s := suggest(got, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		// Keys and ids are short; do not spend quadratic time on an
		// accidental paragraph.
		if a == b {
			return 0
		}
		return max(len(ra), len(rb))
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// quoteList renders ids as `"a", "b" and "c"` for messages.
func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	switch len(q) {
	case 0:
		return "none"
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
