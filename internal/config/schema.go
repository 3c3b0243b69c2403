package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// SchemaFileName is the name the schema is written under beside a config
// file; generate-config writes it there and points the config's $schema at
// it.
const SchemaFileName = "enkrypt_mcp_config.schema.json"

// Schema returns a JSON Schema (draft 2020-12) of the config file,
// generated from the Go types: every key a struct declares is a property,
// any other key is flagged (the gateway ignores it, so an editor should say
// so while the user types). With a detector table, a policy's block list
// may hold only its names. The output is stable, indented, and ends with a
// newline.
func Schema(detectors *Detectors) ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}, detectors: detectors}
	root := g.object(reflect.TypeFor[Config]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["title"] = "Secure MCP Gateway config (" + DefaultFileName + ")"
	root["$defs"] = g.defs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode config schema: %w", err)
	}
	return buf.Bytes(), nil
}

type schemaGen struct {
	defs      map[string]any
	detectors *Detectors
}

// of returns the schema of type t.
func (g *schemaGen) of(t reflect.Type) map[string]any {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	var s map[string]any
	switch {
	case t == rawMessageType || t.Kind() == reflect.Interface:
		return map[string]any{}
	case t == deniedToolType:
		return map[string]any{"$ref": "#/$defs/" + g.def(t)}
	}
	switch t.Kind() {
	case reflect.Struct:
		return map[string]any{"$ref": "#/$defs/" + g.def(t)}
	case reflect.Map:
		s = map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Slice:
		s = map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.String:
		s = map[string]any{"type": "string"}
	case reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		s = map[string]any{"type": "integer"}
	case reflect.Float64:
		s = map[string]any{"type": "number"}
	default:
		panic(fmt.Sprintf("config schema: no schema for %s", t)) // programmer error
	}
	if nullable {
		s["type"] = []any{s["type"], "null"}
	}
	return s
}

// def adds struct type t to $defs once and returns its name.
func (g *schemaGen) def(t reflect.Type) string {
	name := t.Name()
	if _, ok := g.defs[name]; ok {
		return name
	}
	g.defs[name] = true // placeholder against recursion
	if t == deniedToolType {
		obj := g.object(t)
		obj["required"] = []string{"name"}
		g.defs[name] = map[string]any{
			"description": "a case-sensitive shell glob of tool names, or {\"name\": glob, \"reason\": why}",
			"oneOf":       []any{map[string]any{"type": "string", "minLength": 1}, obj},
		}
		return name
	}
	g.defs[name] = g.object(t)
	return name
}

// object returns the schema of a struct's JSON object.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	for f := range t.Fields() {
		name, ok := jsonName(f)
		if !ok {
			continue
		}
		s := g.of(f.Type)
		if t == reflect.TypeFor[Policy]() && name == "block" && g.detectors != nil {
			names := slices.Concat(g.detectors.Offline, g.detectors.Model)
			s["items"] = map[string]any{"enum": names}
			s["description"] = "detectors whose findings block; these need a guardrail provider: " + strings.Join(g.detectors.Model, ", ")
		}
		if name == "$schema" {
			s["description"] = "the JSON Schema editors check this file against"
		}
		props[name] = s
	}
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
}
