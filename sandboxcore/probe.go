package sandboxcore

import (
	"context"
	"os"
	"strings"
)

// ProfileReport says whether one isolation profile works on this host.
type ProfileReport struct {
	Profile string   `json:"profile"`
	Works   bool     `json:"works"`
	Error   string   `json:"error,omitempty"`
	Layers  []string `json:"layers,omitempty"`
	Weaker  []string `json:"weaker,omitempty"`
}

// HostReport is what `bin/server probe` prints: which isolation layers this
// host allows, tried for real (a script runs in each profile).
type HostReport struct {
	Kernel   string          `json:"kernel"`
	Root     bool            `json:"root"`
	Cgroups  []string        `json:"cgroup_controllers"`
	Profiles []ProfileReport `json:"profiles"`
	Chosen   string          `json:"chosen,omitempty"`
}

// Probe tries every profile, strongest first, without starting a server.
func Probe(ctx context.Context, cfg Config) HostReport {
	rep := HostReport{Root: os.Geteuid() == 0}
	if v, err := os.ReadFile("/proc/version"); err == nil {
		rep.Kernel = strings.TrimSpace(string(v))
	}
	cg := probeCgroups()
	if cg.memory {
		rep.Cgroups = append(rep.Cgroups, "memory")
	}
	if cg.pids {
		rep.Cgroups = append(rep.Cgroups, "pids")
	}
	if cg.unified {
		rep.Cgroups = append(rep.Cgroups, "v2")
	}
	for _, mode := range []Mode{ModeNamespaces, ModeChroot} {
		c := cfg
		c.Mode, c.WarmJails, c.Executor = mode, 0, ExecutorCold
		pr := ProfileReport{Profile: string(mode)}
		s, err := New(ctx, c)
		if err != nil {
			pr.Error = err.Error()
		} else {
			h := s.Health()
			pr.Works, pr.Layers, pr.Weaker = true, h.Layers, h.Weaker
			_ = s.Close(ctx)
			if rep.Chosen == "" {
				rep.Chosen = string(mode)
			}
		}
		rep.Profiles = append(rep.Profiles, pr)
	}
	return rep
}
