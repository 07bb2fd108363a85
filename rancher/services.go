package rancher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	client "github.com/rancher/go-rancher/v2"
)

// Service is a service as Rancher lists it, with what it runs: the image of its launchConfig and of each of its
// secondaryLaunchConfigs (sidekicks).
type Service struct {
	ID, EnvID, Name, State, StackID string
	// Kind is Cattle's kind: "service", "loadBalancerService", "externalService", "dnsService", ...
	Kind string
	// Images are the imageUuid values as Rancher stores them ("docker:<image>"), launchConfig first; a service
	// without a launchConfig (external, DNS) has none.
	Images []ServiceImage
}

// ServiceImage is one image a service runs.
type ServiceImage struct {
	// Container is "" for the launchConfig, the sidekick's name for a secondaryLaunchConfig.
	Container string
	// ImageUUID is the imageUuid as Rancher stores it, e.g. "docker:123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1".
	ImageUUID string
}

// Services lists every service of the environment that Rancher lists (all but removed and purged), page by page,
// bounded like the other lists. The key needs only read access.
func (e *Env) Services(ctx context.Context) ([]Service, error) {
	out, err := listAll(ctx, e.srv, "list services", &e.requests, e.c, client.SERVICE_TYPE, keepService)
	if err != nil {
		return nil, fmt.Errorf("list services of environment %s: %w", e, err)
	}
	return out, nil
}

// maxSidekicks bounds the secondaryLaunchConfigs of one service (Rancher services have a handful).
const maxSidekicks = 100

type serviceItem struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	AccountID    string `json:"accountId"`
	Name         string `json:"name"`
	State        string `json:"state"`
	StackID      string `json:"stackId"`
	Kind         string `json:"kind"`
	LaunchConfig *struct {
		ImageUUID string `json:"imageUuid"`
	} `json:"launchConfig"`
	Sidekicks sidekicks `json:"secondaryLaunchConfigs"`
}

// sidekicks decodes a service's secondaryLaunchConfigs one at a time, keeping the name and image of those that
// have an image, at most maxSidekicks of them.
type sidekicks []ServiceImage

// UnmarshalJSON implements json.Unmarshaler.
func (k *sidekicks) UnmarshalJSON(b []byte) error {
	*k = nil
	if string(b) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return errors.New("secondaryLaunchConfigs is not a list")
	}
	for n := 0; dec.More(); n++ {
		if n >= maxSidekicks {
			return fmt.Errorf("more than %d secondaryLaunchConfigs", maxSidekicks)
		}
		var sk struct {
			Name      string `json:"name"`
			ImageUUID string `json:"imageUuid"`
		}
		if err := dec.Decode(&sk); err != nil {
			return err
		}
		if sk.ImageUUID != "" {
			*k = append(*k, ServiceImage{Container: sk.Name, ImageUUID: sk.ImageUUID})
		}
	}
	return nil
}

// keepService converts an item of the services list. Cattle lists every kind of service in the one collection
// ("service", "loadBalancerService", "externalService", "dnsService", ...): each is a service.
func keepService(s *serviceItem) (string, Service, int) {
	typ := s.Type
	if typ == client.SERVICE_TYPE || strings.HasSuffix(typ, "Service") {
		typ = client.SERVICE_TYPE
	}
	v := Service{ID: s.ID, EnvID: s.AccountID, Name: s.Name, State: s.State, StackID: s.StackID, Kind: s.Kind}
	if s.LaunchConfig != nil && s.LaunchConfig.ImageUUID != "" {
		v.Images = append(v.Images, ServiceImage{ImageUUID: s.LaunchConfig.ImageUUID})
	}
	v.Images = append(v.Images, s.Sidekicks...)
	size := int(unsafe.Sizeof(v)) + len(v.ID) + len(v.EnvID) + len(v.Name) + len(v.State) + len(v.StackID) + len(v.Kind)
	for _, im := range v.Images {
		size += int(unsafe.Sizeof(im)) + len(im.Container) + len(im.ImageUUID)
	}
	return typ, v, size
}
