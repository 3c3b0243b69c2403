// Package promtext keeps counters, gauges and histograms in memory and writes
// them in the Prometheus text exposition format 0.0.4, for the HTTP mode's
// /metrics endpoint.
//
// It exists so that the gateway binary does not link the Prometheus client
// library (and with it procfs, client_model and protobuf), whose package
// initialisation and size cost every stdio start. It owns the metric values
// and their rendering; it never reads labels from requests by itself, and it
// must never be given secrets, arguments or session ids as label values:
// whatever a caller passes is served to anyone who can reach /metrics.
//
// All types are safe for concurrent use.
package promtext

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// ContentType is the media type of the text exposition format 0.0.4, as the
// handler serves it.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// validName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]* (colon only
// when colon is set: label names may not have one). Hand-written rather than
// a regexp, so that the package costs nothing at program start.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			i > 0 && c >= '0' && c <= '9' || colon && c == ':'
		if !ok {
			return false
		}
	}
	return true
}

// family is one metric family: it writes its HELP, TYPE and samples, or
// nothing when it has no sample to show.
type family interface {
	write(b *bytes.Buffer)
}

// Registry holds metric families by name and writes them sorted by name.
// The zero value is not usable; call NewRegistry.
type Registry struct {
	mu   sync.Mutex
	fams map[string]family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{fams: make(map[string]family)}
}

// register adds f under name. A bad or duplicate name, or a bad label name,
// is a programmer error and panics.
func (r *Registry) register(name string, labels []string, f family) {
	if !validName(name, true) {
		panic(fmt.Sprintf("promtext: invalid metric name %q", name))
	}
	for i, l := range labels {
		if !validName(l, false) || strings.HasPrefix(l, "__") {
			panic(fmt.Sprintf("promtext: invalid label name %q in %s", l, name))
		}
		if slices.Contains(labels[:i], l) {
			panic(fmt.Sprintf("promtext: duplicate label name %q in %s", l, name))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.fams[name]; ok {
		panic(fmt.Sprintf("promtext: metric %s registered twice", name))
	}
	r.fams[name] = f
}

// WriteTo writes every family in the text exposition format, families sorted
// by name and the series of each family sorted by their label values. A
// labelled family without any series is left out, as the Prometheus client
// does.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	names := make([]string, 0, len(r.fams))
	for n := range r.fams {
		names = append(names, n)
	}
	fams := make([]family, 0, len(names))
	sort.Strings(names)
	for _, n := range names {
		fams = append(fams, r.fams[n])
	}
	r.mu.Unlock()

	var b bytes.Buffer
	for _, f := range fams {
		f.write(&b)
	}
	return b.WriteTo(w)
}

// Handler serves the registry's families with the text format's content
// type.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		_, _ = r.WriteTo(&b)
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		_, _ = w.Write(b.Bytes())
	})
}

// ExponentialBuckets returns count upper bounds, the first start and each
// next one factor times the previous, as the Prometheus client's function of
// the same name does. start must be positive, factor greater than 1 and
// count at least 1; anything else is a programmer error and panics.
func ExponentialBuckets(start, factor float64, count int) []float64 {
	if count < 1 || start <= 0 || factor <= 1 {
		panic(fmt.Sprintf("promtext: bad exponential buckets (%v, %v, %d)", start, factor, count))
	}
	b := make([]float64, count)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// atomicFloat is a float64 updated without a lock.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) add(v float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (f *atomicFloat) load() float64   { return math.Float64frombits(f.bits.Load()) }
func (f *atomicFloat) store(v float64) { f.bits.Store(math.Float64bits(v)) }

// Counter is a value that only goes up.
type Counter struct{ v atomicFloat }

// Inc adds 1.
func (c *Counter) Inc() { c.v.add(1) }

// Add adds v, which must not be negative (a programmer error, which panics).
func (c *Counter) Add(v float64) {
	if v < 0 {
		panic("promtext: counter decreased")
	}
	c.v.add(v)
}

// Value returns the current value.
func (c *Counter) Value() float64 { return c.v.load() }

// Gauge is a value that goes up and down.
type Gauge struct{ v atomicFloat }

// Inc adds 1.
func (g *Gauge) Inc() { g.v.add(1) }

// Dec subtracts 1.
func (g *Gauge) Dec() { g.v.add(-1) }

// Add adds v, which may be negative.
func (g *Gauge) Add(v float64) { g.v.add(v) }

// Set replaces the value with v.
func (g *Gauge) Set(v float64) { g.v.store(v) }

// Value returns the current value.
func (g *Gauge) Value() float64 { return g.v.load() }

// Histogram counts observations in buckets with fixed upper bounds and keeps
// their sum and count.
type Histogram struct {
	upper []float64 // shared by the series of a family; read-only

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last one is +Inf
	sum    float64
	count  uint64
}

func newHistogram(upper []float64) *Histogram {
	return &Histogram{upper: upper, counts: make([]uint64, len(upper)+1)}
}

// Observe records one observation. A value equal to a bucket's upper bound
// falls in that bucket ("le" is inclusive).
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.upper, v)
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.count++
	h.mu.Unlock()
}

// snapshot returns the cumulative bucket counts (one per upper bound), the
// sum and the count, consistent with one another.
func (h *Histogram) snapshot() (cum []uint64, sum float64, count uint64) {
	cum = make([]uint64, len(h.upper))
	h.mu.Lock()
	defer h.mu.Unlock()
	var acc uint64
	for i := range h.upper {
		acc += h.counts[i]
		cum[i] = acc
	}
	return cum, h.sum, h.count
}

// series is one labelled child of a family.
type series[T any] struct {
	values []string // in the order of the family's names (vec.names)
	m      *T
}

// vec keeps the series of one labelled family, keyed by their label values.
type vec[T any] struct {
	name, help, typ string
	labels          []string // as the caller gives values
	names           []string // labels sorted, as they are written
	order           []int    // names[i] == labels[order[i]]
	newMetric       func() *T

	mu     sync.RWMutex
	series map[string]series[T]
}

// newVec returns an empty family. Labels are written sorted by name, as
// the Prometheus client writes them, whatever order the caller declares.
func newVec[T any](name, help, typ string, labels []string, mk func() *T) *vec[T] {
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	names := make([]string, len(labels))
	for i, o := range order {
		names[i] = labels[o]
	}
	return &vec[T]{name: name, help: help, typ: typ, labels: slices.Clone(labels), names: names, order: order,
		newMetric: mk, series: make(map[string]series[T])}
}

// with returns the series for values, creating it on first use. Values that
// are not valid UTF-8 have their bad bytes replaced by U+FFFD, since the
// format allows only UTF-8. A wrong number of values is a programmer error
// and panics.
func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("promtext: %s takes %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	var buf [128]byte
	key := buf[:0]
	for _, s := range values {
		if !utf8.ValidString(s) {
			return v.withSanitized(values)
		}
		// Length-prefixed, so that no two tuples share a key.
		key = strconv.AppendInt(key, int64(len(s)), 10)
		key = append(key, ':')
		key = append(key, s...)
	}
	v.mu.RLock()
	s, ok := v.series[string(key)]
	v.mu.RUnlock()
	if ok {
		return s.m
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.series[string(key)]; ok {
		return s.m
	}
	sorted := make([]string, len(values))
	for i, o := range v.order {
		sorted[i] = values[o]
	}
	s = series[T]{values: sorted, m: v.newMetric()}
	v.series[string(key)] = s
	return s.m
}

func (v *vec[T]) withSanitized(values []string) *T {
	clean := make([]string, len(values))
	for i, s := range values {
		clean[i] = strings.ToValidUTF8(s, "\uFFFD")
	}
	return v.with(clean)
}

// sorted returns the series ordered by their label values, compared in the
// order of the sorted label names.
func (v *vec[T]) sorted() []series[T] {
	v.mu.RLock()
	out := make([]series[T], 0, len(v.series))
	for _, s := range v.series {
		out = append(out, s)
	}
	v.mu.RUnlock()
	slices.SortFunc(out, func(a, b series[T]) int { return slices.Compare(a.values, b.values) })
	return out
}

// CounterVec is a family of counters told apart by label values.
type CounterVec struct{ v *vec[Counter] }

// NewCounterVec registers a counter family with the given label names.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{newVec(name, help, "counter", labels, func() *Counter { return new(Counter) })}
	r.register(name, labels, c)
	return c
}

// WithLabelValues returns the counter for values, given in the order of the
// family's label names, creating it at 0 on first use.
func (c *CounterVec) WithLabelValues(values ...string) *Counter { return c.v.with(values) }

func (c *CounterVec) write(b *bytes.Buffer) {
	ss := c.v.sorted()
	if len(ss) == 0 {
		return
	}
	writeHeader(b, c.v.name, c.v.help, c.v.typ)
	for _, s := range ss {
		writeSample(b, c.v.name, c.v.names, s.values, "", s.m.Value())
	}
}

// GaugeVec is a family of gauges told apart by label values.
type GaugeVec struct{ v *vec[Gauge] }

// NewGaugeVec registers a gauge family with the given label names.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	g := &GaugeVec{newVec(name, help, "gauge", labels, func() *Gauge { return new(Gauge) })}
	r.register(name, labels, g)
	return g
}

// WithLabelValues returns the gauge for values, given in the order of the
// family's label names, creating it at 0 on first use.
func (g *GaugeVec) WithLabelValues(values ...string) *Gauge { return g.v.with(values) }

func (g *GaugeVec) write(b *bytes.Buffer) {
	ss := g.v.sorted()
	if len(ss) == 0 {
		return
	}
	writeHeader(b, g.v.name, g.v.help, g.v.typ)
	for _, s := range ss {
		writeSample(b, g.v.name, g.v.names, s.values, "", s.m.Value())
	}
}

// NewGauge registers a gauge without labels; it is written even while 0.
func (r *Registry) NewGauge(name, help string) *Gauge {
	g := new(Gauge)
	r.register(name, nil, &single{name: name, help: help, typ: "gauge", value: func() (float64, bool) { return g.Value(), true }})
	return g
}

// NewCounter registers a counter without labels; it is written even while 0.
func (r *Registry) NewCounter(name, help string) *Counter {
	c := new(Counter)
	r.register(name, nil, &single{name: name, help: help, typ: "counter", value: func() (float64, bool) { return c.Value(), true }})
	return c
}

// NewGaugeFunc registers a gauge without labels whose value f computes at
// each write. When f reports false the family is left out of that write.
func (r *Registry) NewGaugeFunc(name, help string, f func() (float64, bool)) {
	r.register(name, nil, &single{name: name, help: help, typ: "gauge", value: f})
}

// NewCounterFunc registers a counter without labels whose value f computes
// at each write; f must never return less than it did before. When f
// reports false the family is left out of that write.
func (r *Registry) NewCounterFunc(name, help string, f func() (float64, bool)) {
	r.register(name, nil, &single{name: name, help: help, typ: "counter", value: f})
}

// single is a family of one unlabelled sample.
type single struct {
	name, help, typ string
	value           func() (float64, bool)
}

func (s *single) write(b *bytes.Buffer) {
	v, ok := s.value()
	if !ok {
		return
	}
	writeHeader(b, s.name, s.help, s.typ)
	writeSample(b, s.name, nil, nil, "", v)
}

// HistogramVec is a family of histograms told apart by label values, all
// with the same bucket upper bounds.
type HistogramVec struct {
	v     *vec[Histogram]
	upper []float64
}

// NewHistogramVec registers a histogram family with the given upper bounds
// (sorted ascending, finite; +Inf is implied) and label names. Unsorted or
// infinite bounds, or a label named "le", are programmer errors and panic.
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	upper := slices.Clone(buckets)
	for i, u := range upper {
		if math.IsInf(u, 0) || math.IsNaN(u) || (i > 0 && u <= upper[i-1]) {
			panic(fmt.Sprintf("promtext: %s: bucket bounds must be finite and strictly ascending", name))
		}
	}
	if slices.Contains(labels, "le") {
		panic(fmt.Sprintf("promtext: %s: \"le\" is reserved for bucket bounds", name))
	}
	h := &HistogramVec{upper: upper}
	h.v = newVec(name, help, "histogram", labels, func() *Histogram { return newHistogram(upper) })
	r.register(name, labels, h)
	return h
}

// WithLabelValues returns the histogram for values, given in the order of
// the family's label names, creating it empty on first use.
func (h *HistogramVec) WithLabelValues(values ...string) *Histogram { return h.v.with(values) }

func (h *HistogramVec) write(b *bytes.Buffer) {
	ss := h.v.sorted()
	if len(ss) == 0 {
		return
	}
	name := h.v.name
	writeHeader(b, name, h.v.help, h.v.typ)
	les := make([]string, len(h.upper))
	for i, u := range h.upper {
		les[i] = formatFloat(u)
	}
	for _, s := range ss {
		cum, sum, count := s.m.snapshot()
		for i, c := range cum {
			writeSample(b, name+"_bucket", h.v.names, s.values, les[i], float64(c))
		}
		writeSample(b, name+"_bucket", h.v.names, s.values, "+Inf", float64(count))
		writeSample(b, name+"_sum", h.v.names, s.values, "", sum)
		writeSample(b, name+"_count", h.v.names, s.values, "", float64(count))
	}
}

func writeHeader(b *bytes.Buffer, name, help, typ string) {
	b.WriteString("# HELP ")
	b.WriteString(name)
	b.WriteByte(' ')
	writeEscaped(b, help, false)
	b.WriteString("\n# TYPE ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(typ)
	b.WriteByte('\n')
}

// writeSample writes one sample line; le, when not empty, is added as the
// last label.
func writeSample(b *bytes.Buffer, name string, labels, values []string, le string, v float64) {
	b.WriteString(name)
	if len(labels) > 0 || le != "" {
		b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l)
			b.WriteString(`="`)
			writeEscaped(b, values[i], true)
			b.WriteByte('"')
		}
		if le != "" {
			if len(labels) > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`le="`)
			b.WriteString(le)
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
}

// writeEscaped writes s with backslash and newline escaped, and the double
// quote too inside a label value, as the format requires.
func writeEscaped(b *bytes.Buffer, s string, quote bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
}

// formatFloat renders v as the Prometheus client does: shortest form, and
// +Inf, -Inf and NaN spelled out.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
