// Command health computes the health that GitOps tools compute for live objects, with the
// libraries those tools run:
//
//	health lua [-open-libs] HEALTH.LUA OBJECT...   Argo CD: a health.lua run by gopher-lua, as Argo CD runs it
//	health lua-test DIR                             every case of DIR/health_test.yaml (Argo CD's layout)
//	health kstatus OBJECT...                        Flux: sigs.k8s.io/cli-utils/pkg/kstatus
//
// OBJECT is a file with one object in JSON or YAML. Each result is printed as one JSON line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "health:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: health lua [-open-libs] HEALTH.LUA OBJECT... | lua-test DIR | kstatus OBJECT...")
	}
	out := json.NewEncoder(os.Stdout)
	switch args[0] {
	case "lua":
		rest := args[1:]
		openLibs := len(rest) > 0 && rest[0] == "-open-libs"
		if openLibs {
			rest = rest[1:]
		}
		if len(rest) < 2 {
			return errors.New("usage: health lua [-open-libs] HEALTH.LUA OBJECT...")
		}
		script, err := os.ReadFile(rest[0])
		if err != nil {
			return err
		}
		for _, path := range rest[1:] {
			obj, err := readObject(path)
			if err != nil {
				return err
			}
			hs, err := executeHealthLua(obj, string(script), openLibs)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if err := out.Encode(hs); err != nil {
				return err
			}
		}
	case "lua-test":
		if len(args) != 2 {
			return errors.New("usage: health lua-test DIR")
		}
		return luaTest(args[1], out)
	case "kstatus":
		for _, path := range args[1:] {
			obj, err := readObject(path)
			if err != nil {
				return err
			}
			res, err := status.Compute(obj)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if err := out.Encode(map[string]string{"status": res.Status.String(), "message": res.Message}); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}

// readObject reads one object as the API server would hand it over (integers as int64).
func readObject(path string) (*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(js); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return obj, nil
}

// ---------- Argo CD ----------

// HealthStatus is Argo CD's health.HealthStatus (gitops-engine pkg/health) as JSON.
type HealthStatus struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

const invalidHealthStatus = "Lua returned an invalid health status"

var validStatus = map[string]bool{"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true}

// executeHealthLua follows Argo CD's util/lua ExecuteHealthLua and runLua: a state without the
// standard libraries unless openLibs (a resource.customizations health check in argocd-cm runs
// without them unless useOpenLibs is set; Argo CD's built-in checks run with them), then package,
// base, table and a safe os (time, date); the object in the global obj; a one-second deadline;
// the returned table encoded to JSON and read as a HealthStatus.
func executeHealthLua(obj *unstructured.Unstructured, script string, openLibs bool) (*HealthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	for _, pair := range []struct {
		n string
		f lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(pair.f), NRet: 0, Protect: true}, lua.LString(pair.n)); err != nil {
			return nil, err
		}
	}
	l.PreloadModule(lua.OsLibName, safeOsLoader)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("actionParams", l.CreateTable(0, 0))
	l.SetGlobal("obj", decodeValue(l, obj.Object))
	fn, err := l.LoadString(script)
	if err == nil {
		l.Push(fn)
		err = l.PCall(0, lua.MultRet, nil)
	}
	// Argo CD drops the Lua stack trace from run-time errors, which reach the user.
	var apiErr *lua.ApiError
	if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
		apiErr.StackTrace = ""
		err = apiErr
	}
	if err != nil {
		return nil, err
	}
	ret := l.Get(-1)
	switch ret.Type() {
	case lua.LTNil:
		return &HealthStatus{}, nil
	case lua.LTTable:
		js, err := luajson.Encode(ret)
		if err != nil {
			return nil, err
		}
		hs := &HealthStatus{}
		if err := json.Unmarshal(js, hs); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) && typeErr.Value == "array" { // an empty table encodes as []
				return &HealthStatus{}, nil
			}
			return nil, err
		}
		if !validStatus[hs.Status] {
			return &HealthStatus{Status: "Unknown", Message: invalidHealthStatus}, nil
		}
		return hs, nil
	default:
		return nil, fmt.Errorf("expect table output from Lua script, not %s", ret.Type().String())
	}
}

// safeOs keeps os.time and os.date of gopher-lua's os library, as Argo CD's oslib_safe does.
func safeOsFuncs(l *lua.LState) *lua.LTable {
	full := l.NewTable()
	tmp := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer tmp.Close()
	lua.OpenOs(tmp)
	osTable := tmp.GetGlobal(lua.OsLibName).(*lua.LTable)
	for _, name := range []string{"time", "date"} {
		if f, ok := osTable.RawGetString(name).(*lua.LFunction); ok && f.IsG {
			full.RawSetString(name, l.NewFunction(f.GFunction))
		}
	}
	return full
}

func openSafeOs(l *lua.LState) int {
	mod := safeOsFuncs(l)
	l.SetGlobal(lua.OsLibName, mod)
	l.Push(mod)
	return 1
}

func safeOsLoader(l *lua.LState) int {
	l.Push(safeOsFuncs(l))
	return 1
}

// decodeValue is Argo CD's util/lua decodeValue.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// luaTest runs every case of DIR/health_test.yaml (Argo CD's TestLuaHealthScript: built-in
// scripts run with the standard libraries) and also without them (as a health check pasted into
// argocd-cm runs); it prints one line per case and fails when a case differs in either mode.
func luaTest(dir string, out *json.Encoder) error {
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
	if err != nil {
		return err
	}
	var suite struct {
		Tests []struct {
			InputPath    string       `json:"inputPath"`
			HealthStatus HealthStatus `json:"healthStatus"`
		} `json:"tests"`
	}
	if err := yaml.UnmarshalStrict(data, &suite); err != nil {
		return fmt.Errorf("health_test.yaml: %w", err)
	}
	if len(suite.Tests) == 0 {
		return errors.New("health_test.yaml has no tests")
	}
	failed := 0
	for _, tc := range suite.Tests {
		obj, err := readObject(filepath.Join(dir, tc.InputPath))
		if err != nil {
			return err
		}
		line := map[string]any{"inputPath": tc.InputPath, "expected": tc.HealthStatus}
		ok := true
		for _, mode := range []struct {
			name     string
			openLibs bool
		}{{"openLibs", true}, {"argocdCm", false}} {
			hs, err := executeHealthLua(obj, string(script), mode.openLibs)
			if err != nil {
				line[mode.name] = map[string]string{"error": err.Error()}
				ok = false
				continue
			}
			line[mode.name] = hs
			if *hs != tc.HealthStatus {
				ok = false
			}
		}
		line["ok"] = ok
		if !ok {
			failed++
		}
		if err := out.Encode(line); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d cases differ", failed, len(suite.Tests))
	}
	return nil
}
