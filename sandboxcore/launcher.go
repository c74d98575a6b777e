package sandboxcore

import (
	"context"
	"fmt"
	"log/slog"
)

// launcher starts jails and fork servers for one profile, each under a
// host uid of its own, and waits until they are ready.
type launcher struct {
	prof *profile
	uids *uidPool
	reap *reaper
	log  *slog.Logger
}

func (l *launcher) jail(ctx context.Context, ceiling Limits, preload []string) (*jail, error) {
	lease, err := l.uids.take()
	if err != nil {
		return nil, err
	}
	j, err := startJail(l.prof, jailSpec{uid: lease.uid, limits: ceiling, preload: preload}, l.releaser(lease), l.reap)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := j.waitReady(ctx); err != nil {
		return nil, err
	}
	if l.prof.jobCgroups() {
		if err := j.moveToJobGroup(l.prof.cg); err != nil {
			j.discard()
			return nil, fmt.Errorf("jail: %w", err)
		}
	}
	return j, nil
}

func (l *launcher) zygote(ctx context.Context, ceiling Limits, preload []string, spares int) (*zygote, error) {
	lease, err := l.uids.take()
	if err != nil {
		return nil, err
	}
	var jobUIDs *uidPool
	if l.prof.name == ProfileChroot {
		// No namespaces keep chroot-profile jobs apart: each gets a uid
		// of its own from the fork server (namespaces-profile jobs are
		// each pid 1 of their own pid namespace instead).
		jobUIDs = l.uids
	}
	spec := jailSpec{uid: lease.uid, limits: ceiling, preload: preload, spares: spares, threadsOnly: l.prof.threadsOnly}
	var cg *cgroupSupport
	if l.prof.jobCgroups() {
		cg = &l.prof.cg
	}
	z, err := startZygote(l.prof, spec, l.releaser(lease), l.reap, jobUIDs, cg, l.log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := z.waitReady(ctx); err != nil {
		return nil, err
	}
	return z, nil
}

// releaser returns the func that gives a jail's uid back once the jail has
// exited: it blocks until nothing runs under that uid any more.
func (l *launcher) releaser(lease *uidLease) func() {
	return func() {
		if err := lease.release(); err != nil {
			l.log.Error("sandbox: a jail's uid is still in use after its jail ended", "error", err.Error())
		}
	}
}
