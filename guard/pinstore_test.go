package guard

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// memDoc is a SharedDoc in memory; down makes every operation fail the
// way cache.Shared does when Redis cannot be reached.
type memDoc struct {
	doc  []byte
	down bool
}

var errDown = errors.New("redis down")

func (m *memDoc) Get(context.Context, string) ([]byte, error) {
	if m.down {
		return nil, errDown
	}
	return m.doc, nil
}

func (m *memDoc) Update(_ context.Context, _ string, _ time.Duration, fn func([]byte) ([]byte, error)) error {
	if m.down {
		return errDown
	}
	b, err := fn(m.doc)
	if err != nil {
		return err
	}
	m.doc = b
	return nil
}

func (m *memDoc) Addr() string { return "mem" }

func pinOne(hash string) func(*Pins) error {
	return func(p *Pins) error {
		p.Servers["s"] = map[string]*Pin{"t": {SHA256: hash}}
		return nil
	}
}

func TestSharedPins(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// local is the pin file's content before; doc the shared one.
		local, doc string
		down       bool
		update     func(*Pins) error
		// want is the hash of s/t that Load returns after the update, from
		// the shared document (wantShared) and from the mirror.
		wantShared, wantLocal string
		wantErr               bool
	}{
		{name: "update goes to the document and its mirror", update: pinOne("aa"), wantShared: "aa", wantLocal: "aa"},
		{name: "an empty document starts from the pin file", local: `{"servers":{"s":{"t":{"sha256":"old"}}}}`,
			update: func(*Pins) error { return nil }, wantShared: "old", wantLocal: "old"},
		{name: "the document wins over the pin file", local: `{"servers":{"s":{"t":{"sha256":"old"}}}}`,
			doc: `{"servers":{"s":{"t":{"sha256":"new"}}}}`, update: func(*Pins) error { return nil }, wantShared: "new", wantLocal: "new"},
		{name: "Redis down: the pin file serves", local: `{"servers":{}}`, down: true, update: pinOne("bb"), wantLocal: "bb"},
		{name: "an unreadable document fails closed", doc: `{not json`, update: pinOne("cc"), wantErr: true},
		{name: "fn's error stores nothing", update: func(*Pins) error { return errDown }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := FilePins(filepath.Join(t.TempDir(), PinFileName))
			if tt.local != "" {
				if err := local.Update(ctx, func(p *Pins) error { *p = *mustDecode(t, tt.local); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			doc := &memDoc{down: tt.down}
			if tt.doc != "" {
				doc.doc = []byte(tt.doc)
			}
			sp := SharedPins{Doc: doc, Local: local}
			err := sp.Update(ctx, tt.update)
			if (err != nil) != tt.wantErr {
				t.Fatalf("update: %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if tt.wantShared != "" {
				if got := mustDecode(t, string(doc.doc)).Servers["s"]["t"].SHA256; got != tt.wantShared {
					t.Errorf("shared document: %s, want %s", got, tt.wantShared)
				}
			}
			p, err := local.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Servers["s"]["t"]; got == nil || got.SHA256 != tt.wantLocal {
				t.Errorf("mirror: %+v, want %s", got, tt.wantLocal)
			}
			p, err = sp.Load(ctx)
			if err != nil || p.Servers["s"]["t"] == nil {
				t.Fatalf("load: %v %+v", err, p)
			}
		})
	}
}

func mustDecode(t *testing.T, s string) *Pins {
	t.Helper()
	p, err := decodePins([]byte(s), "test")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
