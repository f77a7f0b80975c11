package survey

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moments-cs/moments/internal/notify"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/store"
)

// StepRunner runs the map's survey steps ({kind: survey, template, to}) in
// the playbook engine.
func (s *Service) StepRunner() playbook.StepRunner { return playbook.StepRunnerFunc(s.runStep) }

// runStep sends the step's survey to its recipients within the fatigue
// budget. A skipped send is recorded on the step with its reason. A
// repeat after a crash finds the sends already recorded and sends nothing
// twice.
func (s *Service) runStep(ctx context.Context, sc *playbook.StepContext) (playbook.Outcome, error) {
	r := Request{Survey: sc.Step.Template, AccountID: sc.Run.AccountID, To: sc.Step.To, MomentID: sc.Run.MomentID,
		RunID: sc.Run.ID, StepIndex: sc.Index, Map: sc.Map, MapVersion: sc.Run.MapVersion, Now: sc.Now()}
	if r.To == "" || r.To == ToContact {
		r.ContactID = sc.Run.ContactID
	}
	if r.To == ToContact || r.To == "" {
		if sc.Run.ContactID == "" {
			return playbook.Outcome{Status: store.StepSkipped, Summary: "no survey sent: the moment has no contact to ask; set to: to a role such as sponsor"}, nil
		}
	}
	sends, err := s.Send(ctx, r)
	if err != nil {
		var fe *FieldError
		var ee *notify.EmailError
		switch {
		case errors.Is(err, ErrUnknownSurvey), errors.As(err, &fe), errors.Is(err, store.ErrNotFound):
			return playbook.Outcome{}, playbook.Permanent(err)
		case errors.As(err, &ee) && !ee.Temporary:
			return playbook.Outcome{}, playbook.Permanent(err)
		}
		return playbook.Outcome{}, err
	}
	if len(sends) == 0 {
		who := r.To
		if who == "" {
			who = ToContact
		}
		return playbook.Outcome{Status: store.StepSkipped, Summary: fmt.Sprintf("no survey sent: the account has no %s with an email address", who)}, nil
	}
	var sent, skipped []string
	for _, x := range sends {
		switch x.Status {
		case store.SurveySkipped:
			skipped = append(skipped, x.Email+" skipped — "+x.Reason)
		case store.SurveyWithdrawn:
			skipped = append(skipped, x.Email+" — replaced by a later survey")
		default:
			sent = append(sent, x.Email)
		}
	}
	if len(sent) == 0 {
		return playbook.Outcome{Status: store.StepSkipped, Summary: fmt.Sprintf("survey %q not sent: %s", r.Survey, strings.Join(skipped, "; "))}, nil
	}
	summary := fmt.Sprintf("survey %q sent to %s", r.Survey, strings.Join(sent, ", "))
	if len(skipped) > 0 {
		summary += "; " + strings.Join(skipped, "; ")
	}
	return playbook.Outcome{Summary: summary}, nil
}
