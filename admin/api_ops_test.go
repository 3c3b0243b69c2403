package admin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"secure-mcp-gateway/authn"
)

// TestRefOf: a Ref made with RefOf resolves an ID when one exists, else a
// name; it cannot be combined with Name or ID.
func TestRefOf(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	for _, in := range []string{defaultID, "default_config"} {
		d, err := s.GetConfig(ctx, RefOf(in))
		if err != nil || d.ID != defaultID {
			t.Fatalf("GetConfig(RefOf(%q)) = %v, %v; want %s", in, d.ID, err, defaultID)
		}
	}
	var nf *NotFoundError
	if _, err := s.GetConfig(ctx, RefOf("nope")); !errors.As(err, &nf) {
		t.Fatalf("unknown: %v, want NotFoundError", err)
	}
	var re *RequestError
	if _, err := s.GetConfig(ctx, Ref{IDOrName: "x", Name: "y"}); !errors.As(err, &re) || re.Problem != ProblemExclusive {
		t.Fatalf("IDOrName with Name: %v, want an exclusive RequestError", err)
	}
}

// TestCreateProjectWithConfig assigns the named config under the same lock.
func TestCreateProjectWithConfig(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	r, err := s.CreateProject(ctx, CreateProjectRequest{ProjectName: "p2", Config: Ref{Name: "spare_config"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.GetProject(ctx, Ref{ID: r.ID})
	if err != nil || p.ConfigID != spareID {
		t.Fatalf("project config = %q, %v; want %s", p.ConfigID, err, spareID)
	}
	var nf *NotFoundError
	if _, err := s.CreateProject(ctx, CreateProjectRequest{ProjectName: "p3", Config: Ref{Name: "nope"}}); !errors.As(err, &nf) {
		t.Fatalf("unknown config: %v, want NotFoundError", err)
	}
	if _, err := s.GetProject(ctx, Ref{Name: "p3"}); !errors.As(err, &nf) {
		t.Fatalf("a refused create must not leave the project: %v", err)
	}
}

// TestRotateAdminKey stores only the hash of the key it returns.
func TestRotateAdminKey(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	k1, err := s.RotateAdminKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminAPIKey != authn.HashKey(k1) {
		t.Fatalf("admin_apikey = %q, want the hash of the key returned", c.AdminAPIKey)
	}
	k2, err := s.RotateAdminKey(ctx)
	if err != nil || k2 == k1 {
		t.Fatalf("second rotation: %v, same key %t", err, k2 == k1)
	}
}

// TestSettings sets the guardrail key and telemetry; the key is reported
// by fingerprint only.
func TestSettings(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	if st, err := s.GuardrailsKey(ctx); err != nil || st.Set {
		t.Fatalf("fresh: %+v, %v", st, err)
	}
	var re *RequestError
	if _, err := s.SetGuardrailsKey(ctx, SetGuardrailsKeyRequest{}); !errors.As(err, &re) {
		t.Fatalf("empty key: %v, want RequestError", err)
	}
	if _, err := s.SetGuardrailsKey(ctx, SetGuardrailsKeyRequest{APIKey: "gk-secret-value"}); err != nil {
		t.Fatal(err)
	}
	st, err := s.GuardrailsKey(ctx)
	if err != nil || !st.Set || !strings.HasPrefix(st.Fingerprint, "fp:") || strings.Contains(st.Fingerprint, "gk-secret") {
		t.Fatalf("after set: %+v, %v", st, err)
	}
	on, url := true, "http://localhost:4317"
	ts, err := s.SetTelemetry(ctx, TelemetryRequest{Enabled: &on, URL: &url})
	if err != nil || ts.Config["enabled"] != true || ts.Config["url"] != url {
		t.Fatalf("telemetry: %+v, %v", ts, err)
	}
	if _, err := s.SetTelemetry(ctx, TelemetryRequest{}); !errors.As(err, &re) {
		t.Fatalf("empty telemetry change: %v, want RequestError", err)
	}
}
