package journey

import (
	"cmp"
	"fmt"
	"slices"
)

// Severity says whether a diagnostic stops a map from being applied.
type Severity string

const (
	// SeverityError marks a problem that must be fixed before the map can
	// be applied.
	SeverityError Severity = "error"
	// SeverityWarning marks something that is probably unintended but does
	// not stop the map from working.
	SeverityWarning Severity = "warning"
)

// MaxDiagnostics is the most diagnostics one parse or lint reports; past it
// the last diagnostic says that more problems were left out.
const MaxDiagnostics = 500

// Diagnostic is one problem found in a map, at a place in its file.
type Diagnostic struct {
	File string `json:"file"`
	// Line and Col are 1-based; 0 means the problem has no place in a file
	// (a map built in code rather than parsed).
	Line     int      `json:"line"`
	Col      int      `json:"col"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	// Path names the value the diagnostic is about, such as
	// "moments[3].trigger.when"; the API returns it as the error's field.
	Path string `json:"path,omitempty"`
}

// String renders the diagnostic as FILE:LINE:COL: message, the form editors
// and CI logs link to. Warnings say so after the position.
func (d Diagnostic) String() string {
	var prefix string
	switch {
	case d.Line > 0:
		prefix = fmt.Sprintf("%s:%d:%d", d.File, d.Line, d.Col)
	case d.File != "" && d.Path != "":
		prefix = d.File + ": " + d.Path
	case d.Path != "":
		prefix = d.Path
	default:
		prefix = d.File
	}
	if d.Severity == SeverityWarning {
		return prefix + ": warning: " + d.Message
	}
	return prefix + ": " + d.Message
}

// HasErrors reports whether any diagnostic is an error (not a warning).
func HasErrors(diags []Diagnostic) bool {
	for _, d := range diags {
		if d.Severity != SeverityWarning {
			return true
		}
	}
	return false
}

// sortDiagnostics orders diagnostics by line, then column, keeping the
// order in which they were found for ties, and caps their number.
func sortDiagnostics(diags []Diagnostic) []Diagnostic {
	slices.SortStableFunc(diags, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	// A problem inside a value used twice through an alias is one problem.
	diags = slices.CompactFunc(diags, func(a, b Diagnostic) bool {
		return a.Line == b.Line && a.Col == b.Col && a.Message == b.Message && a.Line > 0
	})
	if len(diags) > MaxDiagnostics {
		rest := len(diags) - (MaxDiagnostics - 1)
		last := diags[MaxDiagnostics-1]
		diags = diags[:MaxDiagnostics-1]
		diags = append(diags, Diagnostic{
			File: last.File, Line: last.Line, Col: last.Col, Severity: SeverityError,
			Message: fmt.Sprintf("%d more problems not shown; fix the ones above and lint again", rest),
		})
	}
	return diags
}
