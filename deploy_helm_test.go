package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"secure-mcp-gateway/internal/config"
)

const (
	helmChart = "deploy/helm/secure-mcp-gateway"
	// helmModule is Helm's pinned module version, run with `go run`
	// (the Go module proxy serves it; no download site needed).
	helmModule = "helm.sh/helm/v3"
	helmPkg    = helmModule + "/cmd/helm@v3.22.0"
)

var helmFetch struct {
	once sync.Once
	err  string
}

// helm runs Helm at its pinned version through `go run`. The test skips,
// saying why, only when the Helm module cannot be fetched; any later
// failure to build or run it fails the test.
func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	helmFetch.once.Do(func() {
		// Outside any module, so that nothing here touches go.mod.
		cmd := exec.Command("go", "mod", "download", "-json", strings.Replace(helmPkg, "/cmd/helm", "", 1))
		cmd.Dir = os.TempDir()
		out, err := cmd.Output()
		if err == nil {
			return
		}
		var info struct{ Error string }
		if json.Unmarshal(out, &info) == nil && info.Error != "" {
			helmFetch.err = info.Error
		} else {
			helmFetch.err = err.Error()
		}
	})
	if helmFetch.err != "" {
		t.Skipf("the Helm module cannot be fetched (%s), so the chart is not linted or rendered", helmFetch.err)
	}
	cmd := exec.Command("go", append([]string{"run", helmPkg}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	t.Logf("helm %s: %s", args[0], time.Since(start).Round(time.Millisecond))
	if err != nil {
		return out, &helmError{args: args, err: err, stderr: stderr.String()}
	}
	return out, nil
}

// helmError is a Helm run that exited non-zero.
type helmError struct {
	args   []string
	err    error
	stderr string
}

func (e *helmError) Error() string {
	return "helm " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + e.stderr
}

// helmConfigFile writes a real first config (one key, the echo example) for
// the chart's config.json.
func helmConfigFile(t *testing.T) string {
	t.Helper()
	cfg, _, err := newDefaultConfig("/usr/local/bin/secure-mcp-gateway", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "enkrypt_mcp_config.json")
	if err := config.Save(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// k8sObject is the part of a rendered manifest the tests read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		// PodDisruptionBudget
		MinAvailable any `yaml:"minAvailable"`
		// HorizontalPodAutoscaler
		ScaleTargetRef struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas int `yaml:"minReplicas"`
		MaxReplicas int `yaml:"maxReplicas"`
		// Service
		ClusterIP string `yaml:"clusterIP"`
	} `yaml:"spec"`
	Data map[string]string `yaml:"data"`

	node yaml.Node // the whole manifest, for kinds read otherwise
}

type podSpec struct {
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
	SecurityContext              struct {
		RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
		SeccompProfile struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	Containers []struct {
		Args           []string `yaml:"args"`
		LivenessProbe  probe    `yaml:"livenessProbe"`
		ReadinessProbe probe    `yaml:"readinessProbe"`
		Lifecycle      *struct {
			PreStop struct {
				Sleep *struct {
					Seconds int `yaml:"seconds"`
				} `yaml:"sleep"`
			} `yaml:"preStop"`
		} `yaml:"lifecycle"`
		SecurityContext struct {
			RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	} `yaml:"containers"`
	Volumes []struct {
		Name     string    `yaml:"name"`
		EmptyDir *struct{} `yaml:"emptyDir"`
		Secret   *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type probe struct {
	HTTPGet struct {
		Path   string `yaml:"path"`
		Port   string `yaml:"port"`
		Scheme string `yaml:"scheme"`
	} `yaml:"httpGet"`
}

// render runs helm template and returns the manifests by kind.
func render(t *testing.T, args ...string) map[string][]k8sObject {
	t.Helper()
	out, err := helm(t, append([]string{"template", "gw", helmChart}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string][]k8sObject{}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var o k8sObject
		err := dec.Decode(&o.node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			err = o.node.Decode(&o)
		}
		if err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, out)
		}
		if o.Kind != "" {
			byKind[o.Kind] = append(byKind[o.Kind], o)
		}
	}
	return byKind
}

func only(t *testing.T, objs map[string][]k8sObject, kind string) k8sObject {
	t.Helper()
	if len(objs[kind]) != 1 {
		t.Fatalf("%d %s manifests rendered, want 1", len(objs[kind]), kind)
	}
	return objs[kind][0]
}

// TestHelmChart lints the chart and renders it with Helm at its pinned
// version, then reads the manifests: probes on /healthz and /readyz, a
// restricted security context with a read-only root filesystem, the config
// Secret mounted (with the Redis settings merged into a config the gateway
// still loads), the PodDisruptionBudget and the HPA; with the HPA off, the
// replica count; and the values Helm must refuse.
func TestHelmChart(t *testing.T) {
	cfgFile := helmConfigFile(t)
	if out, err := helm(t, "lint", "--strict", helmChart, "--set-file", "config.json="+cfgFile); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	t.Run("defaults with redis", func(t *testing.T) {
		objs := render(t, "--kube-version", "1.31.0", "--set-file", "config.json="+cfgFile,
			"--set", "redis.enabled=true,redis.host=redis.example,redis.password=s3cret")
		dep := only(t, objs, "Deployment")
		if dep.Spec.Replicas != nil {
			t.Errorf("replicas = %d with the HPA on; the HPA owns the count", *dep.Spec.Replicas)
		}
		pod := dep.Spec.Template.Spec
		checkPod(t, pod, "HTTP")
		c := pod.Containers[0]
		for _, want := range [][]string{{"--http"}, {"--insecure-listen"}, {"--listen", "0.0.0.0:8000"}, {"--config", "/var/lib/secure-mcp-gateway/enkrypt_mcp_config.json"}} {
			if i := slices.Index(c.Args, want[0]); i < 0 || len(want) == 2 && (i+1 >= len(c.Args) || c.Args[i+1] != want[1]) {
				t.Errorf("args %v lack %v", c.Args, want)
			}
		}
		if c.Lifecycle == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != 5 {
			t.Errorf("no preStop sleep of 5 s on Kubernetes 1.31: %+v", c.Lifecycle)
		}
		if dep.Spec.Template.Metadata.Annotations["checksum/config"] == "" {
			t.Error("no config checksum annotation: a config change would not roll the pods")
		}

		secret := only(t, objs, "Secret")
		if got := secretVolume(t, pod); got != secret.Metadata.Name {
			t.Errorf("config volume mounts Secret %q, the chart renders %q", got, secret.Metadata.Name)
		}
		raw, err := base64.StdEncoding.DecodeString(secret.Data["enkrypt_mcp_config.json"])
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "enkrypt_mcp_config.json")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("the gateway cannot load the config the chart stores: %v\n%s", err, raw)
		}
		orig, err := config.Load(cfgFile)
		if err != nil {
			t.Fatal(err)
		}
		com := cfg.Common
		if !com.UseExternalCache || com.CacheHost != "redis.example" || com.CachePort != 6379 || com.CachePassword == nil || *com.CachePassword != "s3cret" {
			t.Errorf("redis settings not merged: %+v", com)
		}
		if len(cfg.APIKeys) != len(orig.APIKeys) || len(cfg.MCPConfigs) != len(orig.MCPConfigs) || len(cfg.Projects) != len(orig.Projects) {
			t.Errorf("the stored config lost entries: %d keys, %d configs, %d projects; want %d, %d, %d",
				len(cfg.APIKeys), len(cfg.MCPConfigs), len(cfg.Projects), len(orig.APIKeys), len(orig.MCPConfigs), len(orig.Projects))
		}

		pdb := only(t, objs, "PodDisruptionBudget")
		if pdb.Spec.MinAvailable != 1 {
			t.Errorf("PDB minAvailable = %v, want 1", pdb.Spec.MinAvailable)
		}
		if !sameLabels(pdb.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels) {
			t.Errorf("PDB selects %v, the Deployment's pods are %v", pdb.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels)
		}
		hpa := only(t, objs, "HorizontalPodAutoscaler")
		if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != dep.Metadata.Name || hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 10 {
			t.Errorf("HPA = %+v", hpa.Spec)
		}
		var headless bool
		for _, o := range objs["Service"] {
			var svc struct {
				Spec struct {
					Selector map[string]string `yaml:"selector"`
					Ports    []struct {
						TargetPort string `yaml:"targetPort"`
					} `yaml:"ports"`
				} `yaml:"spec"`
			}
			if err := o.node.Decode(&svc); err != nil {
				t.Fatal(err)
			}
			if !sameLabels(svc.Spec.Selector, dep.Spec.Selector.MatchLabels) || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != "http" {
				t.Errorf("Service %s selects %v on %+v; the pods are %v on port http", o.Metadata.Name, svc.Spec.Selector, svc.Spec.Ports, dep.Spec.Selector.MatchLabels)
			}
			headless = headless || o.Spec.ClusterIP == "None"
		}
		if len(objs["Service"]) != 2 || !headless {
			t.Errorf("want a Service and a headless Service, got %d", len(objs["Service"]))
		}
	})

	t.Run("fixed replicas, own secret, TLS, older Kubernetes", func(t *testing.T) {
		objs := render(t, "--kube-version", "1.29.0", "--set",
			"autoscaling.enabled=false,replicaCount=3,config.existingSecret=team-gateway-config,tls.secretName=gw-tls")
		dep := only(t, objs, "Deployment")
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
			t.Errorf("replicas = %v, want 3", dep.Spec.Replicas)
		}
		if len(objs["HorizontalPodAutoscaler"]) != 0 || len(objs["Secret"]) != 0 {
			t.Errorf("rendered %d HPAs and %d Secrets, want none", len(objs["HorizontalPodAutoscaler"]), len(objs["Secret"]))
		}
		pod := dep.Spec.Template.Spec
		checkPod(t, pod, "HTTPS")
		if got := secretVolume(t, pod); got != "team-gateway-config" {
			t.Errorf("config volume mounts Secret %q, want team-gateway-config", got)
		}
		c := pod.Containers[0]
		if !slices.Contains(c.Args, "--tls-cert") || slices.Contains(c.Args, "--insecure-listen") {
			t.Errorf("args %v: want --tls-cert and no --insecure-listen", c.Args)
		}
		if c.Lifecycle != nil {
			t.Errorf("preStop sleep rendered for Kubernetes 1.29, which lacks it: %+v", c.Lifecycle)
		}
	})

	// Each refusal is the chart's own message (a template fail), not
	// some other error of Helm's.
	refusals := []struct {
		name string
		args []string
		why  string
	}{
		{"no config", nil, "the gateway needs its config"},
		{"both configs", []string{"--set-file", "config.json=" + cfgFile, "--set", "config.existingSecret=x"}, "not both"},
		{"redis with an own secret", []string{"--set", "config.existingSecret=x,redis.enabled=true,redis.host=r"}, "merged into config.json only"},
		{"redis without a host", []string{"--set-file", "config.json=" + cfgFile, "--set", "redis.enabled=true"}, "redis.enabled needs redis.host"},
		{"config not JSON", []string{"--set", "config.json=not json"}, "config.json is not a JSON object"},
	}
	for _, tt := range refusals {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			out, err := helm(t, append([]string{"template", "gw", helmChart}, tt.args...)...)
			var he *helmError
			if !errors.As(err, &he) {
				t.Fatalf("helm template rendered:\n%s", out)
			}
			if !strings.Contains(he.stderr, tt.why) {
				t.Errorf("helm template failed, but not with %q:\n%s", tt.why, he.stderr)
			}
		})
	}
}

// checkPod asserts what every rendering of the pod must hold.
func checkPod(t *testing.T, pod podSpec, scheme string) {
	t.Helper()
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	for name, p := range map[string]struct {
		got  probe
		path string
	}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
		if p.got.HTTPGet.Path != p.path || p.got.HTTPGet.Port != "http" || p.got.HTTPGet.Scheme != scheme {
			t.Errorf("%s probe = %+v, want GET %s on port http over %s", name, p.got.HTTPGet, p.path, scheme)
		}
	}
	sc := c.SecurityContext
	if !isTrue(pod.SecurityContext.RunAsNonRoot) || !isTrue(sc.RunAsNonRoot) || !isTrue(sc.ReadOnlyRootFilesystem) ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) ||
		pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("security context is not restricted: pod %+v, container %+v", pod.SecurityContext, sc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted; the gateway needs no API access")
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
		if m.Name == "config" && (!m.ReadOnly || m.SubPath == "") {
			t.Errorf("config mount %+v: want read-only, by subPath", m)
		}
	}
	for path, vol := range map[string]string{
		"/var/lib/secure-mcp-gateway":                         "state",
		"/var/lib/secure-mcp-gateway/enkrypt_mcp_config.json": "config",
		"/tmp": "tmp",
	} {
		if mounts[path] != vol {
			t.Errorf("%s mounts %q, want volume %q (the root filesystem is read-only)", path, mounts[path], vol)
		}
	}
}

// secretVolume returns the Secret the config volume mounts.
func secretVolume(t *testing.T, pod podSpec) string {
	t.Helper()
	for _, v := range pod.Volumes {
		if v.Name == "config" && v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	t.Fatal("no config volume from a Secret")
	return ""
}

func isTrue(b *bool) bool { return b != nil && *b }

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
