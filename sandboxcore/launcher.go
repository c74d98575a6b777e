package sandboxcore

import (
	"context"
)

// launcher starts jails and fork servers for one profile, each under a
// host uid of its own, and waits until they are ready.
type launcher struct {
	prof *profile
	uids *uidPool
	reap *reaper
}

func (l *launcher) jail(ctx context.Context, ceiling Limits, preload []string) (*jail, error) {
	uid, release, err := l.uids.take()
	if err != nil {
		return nil, err
	}
	j, err := startJail(l.prof, jailSpec{uid: uid, limits: ceiling, preload: preload}, release, l.reap)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := j.waitReady(ctx); err != nil {
		return nil, err
	}
	return j, nil
}

func (l *launcher) zygote(ctx context.Context, ceiling Limits, preload []string, spares int) (*zygote, error) {
	uid, release, err := l.uids.take()
	if err != nil {
		return nil, err
	}
	z, err := startZygote(l.prof, jailSpec{uid: uid, limits: ceiling, preload: preload, spares: spares}, release, l.reap)
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
