package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// masked is what Redacted puts in place of a secret. It equals
// secret.Masked; that package is not imported because internal/config must
// not depend on any package of this module (see deps_test.go).
const masked = "[REDACTED]"

// extra is what a struct remembers of the JSON object it was decoded from:
// the keys it does not declare, written back unchanged, and which declared
// keys were present. Encoding uses the latter so that a saved file neither
// grows keys the input lacked (a "enkrypt_cache_port": 0 would break the
// Python gateway) nor loses keys it had ("OAUTH_USE_MTLS": false).
type extra struct {
	decoded bool
	unknown map[string]json.RawMessage
	present map[string]bool
}

// jsonName returns the JSON key of a struct field and whether it has one.
func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, true
}

// fieldsOf maps the JSON keys of struct type t to their field types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		if name, ok := jsonName(f); ok {
			m[name] = f.Type
		}
	}
	return m
}

// decodeObject decodes the JSON object data into shadow (a pointer to a
// method-less copy of a struct type) and returns what shadow cannot hold.
// A JSON null decodes to nothing, as encoding/json does.
func decodeObject(data []byte, shadow any) (extra, error) {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return extra{}, nil
	}
	if err := json.Unmarshal(data, shadow); err != nil {
		return extra{}, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return extra{}, err
	}
	known := fieldsOf(reflect.TypeOf(shadow).Elem())
	ex := extra{decoded: true}
	for k, v := range all {
		if _, ok := known[k]; ok {
			if ex.present == nil {
				ex.present = make(map[string]bool)
			}
			ex.present[k] = true
			continue
		}
		if ex.unknown == nil {
			ex.unknown = make(map[string]json.RawMessage)
		}
		ex.unknown[k] = v
	}
	return ex, nil
}

// encodeObject marshals shadow (a struct value of a method-less type) field
// by field, then appends the unknown keys, sorted. For a struct that was
// decoded, a field whose key was present is written unless it was cleared to
// nil, and a field whose key was absent is written only if it is now
// non-zero; a struct built in code follows its omitempty and omitzero tags.
func encodeObject(shadow any, ex extra) ([]byte, error) {
	v := reflect.ValueOf(shadow)
	t := v.Type()
	b := []byte{'{'}
	appendKV := func(key string, val []byte) error {
		kb, err := marshalPlain(key)
		if err != nil {
			return err
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, kb...)
		b = append(b, ':')
		b = append(b, val...)
		return nil
	}
	known := make(map[string]bool, t.NumField())
	for i, f := range slices.Collect(t.Fields()) {
		name, ok := jsonName(f)
		if !ok {
			continue
		}
		known[name] = true
		fv := v.Field(i)
		_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		omitEmpty := strings.Contains(","+opts+",", ",omitempty,")
		omitZero := strings.Contains(","+opts+",", ",omitzero,")
		switch {
		case ex.decoded && ex.present[name]:
			if (omitEmpty || omitZero) && isNil(fv) {
				continue
			}
		case ex.decoded && fv.IsZero():
			continue
		case omitEmpty && isEmpty(fv), omitZero && fv.IsZero():
			continue
		}
		vb, err := marshalPlain(fv.Interface())
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		if err := appendKV(name, vb); err != nil {
			return nil, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(ex.unknown)) {
		if known[k] {
			continue
		}
		raw := ex.unknown[k]
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		if err := appendKV(k, raw); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// isNil reports whether v is a nil pointer, map, slice or interface.
func isNil(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// isEmpty is encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// marshalPlain is json.Marshal without HTML escaping, so that "&" in a URL
// stays "&" as the Python gateway writes it.
func marshalPlain(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Marshal returns the config as JSON indented by two spaces with a trailing
// newline, keeping the unknown keys read by Parse.
func Marshal(c *Config) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("marshal config: nil config")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	return buf.Bytes(), nil
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return masked
}

func maskValues(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = mask(v)
	}
	return out
}

// The methods below give every struct the unknown-key round trip. Each
// converts to a local shadow type, which has the same fields but no methods,
// so encoding/json does not recurse into them.

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (c *Config) UnmarshalJSON(b []byte) error {
	type shadow Config
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*c = Config(v)
	c.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (c Config) MarshalJSON() ([]byte, error) {
	type shadow Config
	return encodeObject(shadow(c), c.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (c *Common) UnmarshalJSON(b []byte) error {
	type shadow Common
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*c = Common(v)
	c.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (c Common) MarshalJSON() ([]byte, error) {
	type shadow Common
	return encodeObject(shadow(c), c.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (t *TimeoutSettings) UnmarshalJSON(b []byte) error {
	type shadow TimeoutSettings
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*t = TimeoutSettings(v)
	t.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (t TimeoutSettings) MarshalJSON() ([]byte, error) {
	type shadow TimeoutSettings
	return encodeObject(shadow(t), t.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (e *EscalationPolicies) UnmarshalJSON(b []byte) error {
	type shadow EscalationPolicies
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*e = EscalationPolicies(v)
	e.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (e EscalationPolicies) MarshalJSON() ([]byte, error) {
	type shadow EscalationPolicies
	return encodeObject(shadow(e), e.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (p *Plugins) UnmarshalJSON(b []byte) error {
	type shadow Plugins
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*p = Plugins(v)
	p.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (p Plugins) MarshalJSON() ([]byte, error) {
	type shadow Plugins
	return encodeObject(shadow(p), p.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (p *Plugin) UnmarshalJSON(b []byte) error {
	type shadow Plugin
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*p = Plugin(v)
	p.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (p Plugin) MarshalJSON() ([]byte, error) {
	type shadow Plugin
	return encodeObject(shadow(p), p.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (m *MCPConfig) UnmarshalJSON(b []byte) error {
	type shadow MCPConfig
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*m = MCPConfig(v)
	m.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back. A nil
// server list is written as [], which the Python gateway iterates.
func (m MCPConfig) MarshalJSON() ([]byte, error) {
	type shadow MCPConfig
	if m.Servers == nil {
		m.Servers = []*Server{}
	}
	return encodeObject(shadow(m), m.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (s *Server) UnmarshalJSON(b []byte) error {
	type shadow Server
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*s = Server(v)
	s.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (s Server) MarshalJSON() ([]byte, error) {
	type shadow Server
	return encodeObject(shadow(s), s.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (s *ServerConfig) UnmarshalJSON(b []byte) error {
	type shadow ServerConfig
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*s = ServerConfig(v)
	s.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (s ServerConfig) MarshalJSON() ([]byte, error) {
	type shadow ServerConfig
	return encodeObject(shadow(s), s.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (c *ClientRequests) UnmarshalJSON(b []byte) error {
	type shadow ClientRequests
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*c = ClientRequests(v)
	c.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (c ClientRequests) MarshalJSON() ([]byte, error) {
	type shadow ClientRequests
	return encodeObject(shadow(c), c.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (p *Policy) UnmarshalJSON(b []byte) error {
	type shadow Policy
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*p = Policy(v)
	p.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (p Policy) MarshalJSON() ([]byte, error) {
	type shadow Policy
	return encodeObject(shadow(p), p.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (o *OAuthConfig) UnmarshalJSON(b []byte) error {
	type shadow OAuthConfig
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*o = OAuthConfig(v)
	o.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (o OAuthConfig) MarshalJSON() ([]byte, error) {
	type shadow OAuthConfig
	return encodeObject(shadow(o), o.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (p *Project) UnmarshalJSON(b []byte) error {
	type shadow Project
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*p = Project(v)
	p.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (p Project) MarshalJSON() ([]byte, error) {
	type shadow Project
	return encodeObject(shadow(p), p.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (u *User) UnmarshalJSON(b []byte) error {
	type shadow User
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*u = User(v)
	u.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (u User) MarshalJSON() ([]byte, error) {
	type shadow User
	return encodeObject(shadow(u), u.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (k *APIKey) UnmarshalJSON(b []byte) error {
	type shadow APIKey
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*k = APIKey(v)
	k.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (k APIKey) MarshalJSON() ([]byte, error) {
	type shadow APIKey
	return encodeObject(shadow(k), k.kept)
}
