package report

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ParamError is a report parameter that cannot be used; Field names it as
// the API and the CLI spell it, so the API answers 400 with that field.
type ParamError struct {
	Field   string
	Message string
}

func (e *ParamError) Error() string { return e.Message }

func paramErrorf(field, format string, args ...any) error {
	return &ParamError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// intParam reads a whole-number query parameter, def when absent.
func intParam(q url.Values, name string, def int) (int, error) {
	v := strings.TrimSpace(q.Get(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, paramErrorf(name, "%s must be a whole number of days, got %q", name, v)
	}
	return n, nil
}

// ScorecardParams reads ?days= (default DefaultDays) of the scorecard
// endpoints.
func ScorecardParams(q url.Values) (days int, err error) {
	if days, err = intParam(q, "days", DefaultDays); err != nil {
		return 0, err
	}
	return days, CheckDays(days)
}

// FunnelParams reads the funnel endpoint's query: events (comma-separated,
// in order) or path, days, window_days and by.
func FunnelParams(q url.Values) (FunnelRequest, error) {
	var req FunnelRequest
	var err error
	if ev := strings.TrimSpace(q.Get("events")); ev != "" {
		for _, e := range strings.Split(ev, ",") {
			req.Events = append(req.Events, strings.TrimSpace(e))
		}
	}
	req.Path, req.By = strings.TrimSpace(q.Get("path")), strings.TrimSpace(q.Get("by"))
	if req.Days, err = intParam(q, "days", DefaultFunnelDays); err != nil {
		return req, err
	}
	if req.WindowDays, err = intParam(q, "window_days", DefaultConversionWindowDays); err != nil {
		return req, err
	}
	return req, checkFunnel(req)
}

// TTVParams reads the time-to-value endpoint's query: path and by
// (default segment; "none" for all accounts only).
func TTVParams(q url.Values) (path, by string, err error) {
	path, by = strings.TrimSpace(q.Get("path")), BySegment
	if q.Has("by") {
		by = strings.TrimSpace(q.Get("by"))
	}
	if by == "none" {
		by = ""
	}
	return path, by, checkBy(by)
}
