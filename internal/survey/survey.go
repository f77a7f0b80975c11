package survey

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/vocab"
)

// Survey kinds.
const (
	KindNPS  = vocab.SurveyNPS
	KindCSAT = vocab.SurveyCSAT
	KindCES  = vocab.SurveyCES
)

// Scale is the range of scores of a survey kind and the words at its ends.
type Scale struct {
	Low, High           int
	LowLabel, HighLabel string
}

var scales = map[string]Scale{
	KindNPS:  {Low: 0, High: 10, LowLabel: "Not at all likely", HighLabel: "Extremely likely"},
	KindCSAT: {Low: 1, High: 5, LowLabel: "Very dissatisfied", HighLabel: "Very satisfied"},
	KindCES:  {Low: 1, High: 7, LowLabel: "Very difficult", HighLabel: "Very easy"},
}

// ScaleOf returns the scale of a survey kind.
func ScaleOf(kind string) (Scale, bool) {
	s, ok := scales[kind]
	return s, ok
}

// Scores lists the scale's scores from low to high.
func (s Scale) Scores() []int {
	out := make([]int, 0, s.High-s.Low+1)
	for n := s.Low; n <= s.High; n++ {
		out = append(out, n)
	}
	return out
}

// Contains reports whether n is a score of the scale.
func (s Scale) Contains(n int) bool { return n >= s.Low && n <= s.High }

var defaultFollowUps = map[string]string{
	KindNPS:  "What is the main reason for your score?",
	KindCSAT: "What could we have done better?",
	KindCES:  "What made it easy or hard?",
}

// Texts are a survey's words in one language.
type Texts struct {
	Language string
	Question string
	FollowUp string
}

// TextsFor returns the survey's question and follow-up in the contact's
// language: the translation whose tag matches it exactly, else one of the
// same base language ("pt" for "pt-br"), else the survey's own texts.
func TextsFor(s journey.Survey, language string) Texts {
	lang := strings.ToLower(strings.TrimSpace(language))
	base, _, _ := strings.Cut(lang, "-")
	t := Texts{Question: s.Question, FollowUp: s.FollowUp}
	var found *journey.SurveyTranslation
	for i, tr := range s.Translations {
		tl := strings.ToLower(tr.Language)
		if tl == lang {
			found = &s.Translations[i]
			break
		}
		if tb, _, _ := strings.Cut(tl, "-"); found == nil && lang != "" && tb == base {
			found = &s.Translations[i]
		}
	}
	if found != nil {
		t = Texts{Language: strings.ToLower(found.Language), Question: found.Question, FollowUp: found.FollowUp}
		if t.FollowUp == "" {
			t.FollowUp = s.FollowUp
		}
	}
	if t.FollowUp == "" {
		t.FollowUp = defaultFollowUps[s.Kind]
	}
	return t
}

// findSurvey returns the map's survey with id.
func findSurvey(m *journey.Map, id string) (journey.Survey, error) {
	for _, s := range m.Surveys {
		if s.ID == id {
			if _, ok := scales[s.Kind]; !ok {
				return s, fmt.Errorf("survey %q has kind %q; use nps, csat or ces", id, s.Kind)
			}
			return s, nil
		}
	}
	return journey.Survey{}, fmt.Errorf("%w: %q is not one of the journey map's surveys", ErrUnknownSurvey, id)
}

// Errors of answers and sends.
var (
	// ErrUnknownLink is a link whose token is malformed, tampered with or
	// not Moments' (404).
	ErrUnknownLink = errors.New("this survey link is not valid")
	// ErrExpiredLink is a link past its expiry, or one replaced by a newer
	// survey (410).
	ErrExpiredLink = errors.New("this survey link has expired")
	// ErrUnknownSurvey is a survey id that is not in the journey map.
	ErrUnknownSurvey = errors.New("unknown survey")
)

// FieldError is input that names a field: a score out of the scale, a
// comment too long.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }
