package health

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Day is an account's health at the start of one UTC day, compact enough
// to keep one for every account and every day: the three scores, the
// quadrant, the warnings raised and every component's value, without the
// explanations. The backtest and calibration read how scores stood from a
// kept history of Days; Result turns one back into what they need.
type Day struct {
	// Day is the UTC day, in days since the Unix epoch.
	Day         int64
	Behavioural Value
	Emotional   Value
	Combined    Value
	Quadrant    Quadrant
	// Warnings is the set of warning codes the result raised, as a bit set
	// over warningBits.
	Warnings uint8
	// Components holds the value of every component, in componentOrder.
	Components [len(componentOrder)]Value
}

// componentOrder fixes each component's place in the compact encoding.
// Append new components at the end: stored rows keep their meaning.
var componentOrder = [...]string{
	ComponentRecency, ComponentFrequency, ComponentBreadth, ComponentDepth, ComponentProgress,
	ComponentIntensity, ComponentTrend, ComponentRelationship, ComponentSupportLoad,
	ComponentNPS, ComponentCSAT, ComponentCES, ComponentSupport,
}

// warningBits fixes each warning code's bit in Day.Warnings. Append new
// codes at the end: stored rows keep their meaning.
var warningBits = [...]string{WarningLowHealth, WarningDecliningUsage, WarningSponsorLeft, WarningUnansweredSurveys}

// DayOf keeps the compact form of r as the health of day, with the
// warnings r raises and those given in extra that health alone cannot
// raise (unanswered_surveys, from the surveys sent).
func DayOf(r Result, day int64, extra ...string) Day {
	d := Day{Day: day, Behavioural: r.Behavioural, Emotional: r.Emotional, Combined: r.Combined, Quadrant: r.Quadrant}
	for _, c := range r.Components {
		if i := slices.Index(componentOrder[:], c.Name); i >= 0 {
			d.Components[i] = c.Value
		}
	}
	for _, w := range Warnings(r) {
		if i := slices.Index(warningBits[:], w.Code); i >= 0 {
			d.Warnings |= 1 << i
		}
	}
	for _, code := range extra {
		if i := slices.Index(warningBits[:], code); i >= 0 {
			d.Warnings |= 1 << i
		}
	}
	return d
}

// WarningCodes lists the warning codes of the day.
func (d Day) WarningCodes() []string {
	var out []string
	for i, code := range warningBits {
		if d.Warnings&(1<<i) != 0 {
			out = append(out, code)
		}
	}
	return out
}

// Result is the day's health as a result the backtest and calibration
// read: the scores, the quadrant and the components' values (no reasons,
// weights or shares). A sponsor_left warning is kept as the relationship
// component's sponsor change event, dated at the start of the day, so that
// Warnings(d.Result()) raises the day's warnings.
func (d Day) Result() Result { return d.ResultIn(nil) }

// DayComponents is the number of components a Day keeps.
const DayComponents = len(componentOrder)

// ResultIn is Result with its components in room, when room has space for
// DayComponents (len 0): a caller that turns many days into results
// allocates their components together.
func (d Day) ResultIn(room []Component) Result {
	if cap(room) < DayComponents {
		room = make([]Component, 0, DayComponents)
	}
	r := Result{At: time.Unix(d.Day*secondsPerDay, 0).UTC(), Behavioural: d.Behavioural, Emotional: d.Emotional,
		Combined: d.Combined, Quadrant: d.Quadrant, BehaviourOnly: d.Combined.Known && !d.Emotional.Known,
		Components: room[:0]}
	for i, name := range componentOrder {
		c := Component{Name: name, Group: GroupBehavioural, Value: d.Components[i]}
		switch name {
		case ComponentNPS, ComponentCSAT, ComponentCES, ComponentSupport:
			c.Group = GroupEmotional
		case ComponentRelationship:
			if d.Warnings&(1<<slices.Index(warningBits[:], WarningSponsorLeft)) != 0 {
				c.Events = []Moved{{Event: sponsorChangeEvent, At: r.At}}
			}
		}
		r.Components = append(r.Components, c)
	}
	return r
}

// dayFormat is the first byte of an encoded component list.
const dayFormat = 1

// EncodeComponents packs the day's component values: a format byte, a
// 16-bit mask of the known components, then each known value as a
// float32 (seven significant digits, far finer than a score needs). A day
// with every component known takes 55 bytes.
func (d Day) EncodeComponents() []byte {
	var mask uint16
	n := 0
	for i, v := range d.Components {
		if v.Known {
			mask |= 1 << i
			n++
		}
	}
	b := make([]byte, 3, 3+4*n)
	b[0] = dayFormat
	binary.LittleEndian.PutUint16(b[1:], mask)
	for _, v := range d.Components {
		if v.Known {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v.Score)))
		}
	}
	return b
}

// ErrDayFormat means a stored component list cannot be read.
var ErrDayFormat = errors.New("unreadable health history components")

// DecodeComponents reads what EncodeComponents wrote into d.Components.
func (d *Day) DecodeComponents(b []byte) error {
	if len(b) < 3 || b[0] != dayFormat {
		return fmt.Errorf("%w: %d bytes, format %v", ErrDayFormat, len(b), b[:min(len(b), 1)])
	}
	mask := binary.LittleEndian.Uint16(b[1:])
	b = b[3:]
	for i := range d.Components {
		d.Components[i] = Value{}
		if mask&(1<<i) == 0 {
			continue
		}
		if len(b) < 4 {
			return fmt.Errorf("%w: too short for its mask", ErrDayFormat)
		}
		d.Components[i] = Known(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
		b = b[4:]
	}
	return nil
}
