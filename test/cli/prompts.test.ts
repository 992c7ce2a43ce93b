/**
 * The wizard's questions at the prompt level: mp-sideload's own prompt functions (the same the
 * wizard calls), driven by @inquirer/testing's streams, with the wizard's validators.
 */
import { render } from "@inquirer/testing";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { prompts, withPromptStreams } from "../../src/cli/prompts.js";
import { validatePakPath, validateProxyList, validateRegistry } from "../../src/cli/wizard.js";

const fixtures = join(import.meta.dirname, "../../fixtures");

/** Render one of our prompts through @inquirer/testing's input and output. */
function drive<V>(ask: () => Promise<V>) {
  const prompt = (
    _config: object,
    context?: { input?: NodeJS.ReadableStream; output?: NodeJS.WritableStream },
  ) => withPromptStreams(context ?? {}, ask);
  return render(prompt as never, {}) as unknown as Promise<{
    answer: Promise<V>;
    events: {
      keypress: (key: string | { name?: string; ctrl?: boolean }) => void;
      type: (text: string) => void;
    };
    getScreen: () => string;
    nextRender: () => Promise<void>;
  }>;
}

describe("the wizard's prompts", () => {
  it("step 1: offers the paks and 'another path…'; a disabled pak cannot be picked", async () => {
    const { answer, events, getScreen, nextRender } = await drive(() =>
      prompts.choose("Which management pack?", [
        { name: "broken.pak", value: "broken", disabled: "(PAK_NOT_ZIP)" },
        { name: "sample.pak  SampleAdapter 1.0.0", value: "sample" },
        { name: "another path…", value: "other" },
      ]),
    );
    expect(getScreen()).toMatch(
      /Which management pack\?[\s\S]*broken\.pak \(PAK_NOT_ZIP\)[\s\S]*sample\.pak {2}SampleAdapter 1\.0\.0[\s\S]*another path…/,
    );
    events.keypress("down");
    await nextRender();
    events.keypress("enter");
    await expect(answer).resolves.toBe("other");
  });

  it("step 1: a typed path must be a pak inspect can read; its error is shown inline", async () => {
    const { answer, events, getScreen, nextRender } = await drive(() =>
      prompts.text("Path of the .pak:", validatePakPath(fixtures)),
    );
    events.type("not-a-zip.pak");
    events.keypress("enter");
    await nextRender();
    await nextRender();
    expect(getScreen()).toMatch(/PAK_NOT_ZIP|FILE_NOT_FOUND/);
    for (let i = 0; i < "not-a-zip.pak".length; i++) events.keypress("backspace");
    events.type("sample.pak");
    events.keypress("enter");
    await expect(answer).resolves.toBe("sample.pak");
  });

  it("step 2: the default registry is checked against the reference grammar", async () => {
    expect(validateRegistry("bad host!")).toMatch(/e\.g\./);
    const { answer, events, getScreen, nextRender } = await drive(() =>
      prompts.text("The proxies' default registry:", validateRegistry),
    );
    events.type("UPPER_case");
    events.keypress("enter");
    await nextRender(); // a synchronous validator: one render, with the error
    expect(getScreen()).toMatch(/e\.g\./);
    for (let i = 0; i < "UPPER_case".length; i++) events.keypress("backspace");
    events.type("harbor.example.com:8443");
    events.keypress("enter");
    await expect(answer).resolves.toBe("harbor.example.com:8443");
  });

  it("step 3: typed proxies are checked like --proxy", () => {
    expect(validateProxyList("-oProxyCommand=x")).toMatch(/not a host name/);
    expect(validateProxyList("root@cp-1:2222, cp-2 [::1]:22")).toBe(true);
    expect(validateProxyList(" , ")).toBe("give at least one proxy");
  });

  it("step 3: the proxies of an inventory, grouped, all preselected; space toggles one off", async () => {
    const { answer, events, getScreen, nextRender } = await drive(() =>
      prompts.pickMany("Which proxies?", [
        {
          group: "east",
          choices: [
            { name: "cp-east-1", value: "cp-east-1" },
            { name: "cp-east-2", value: "cp-east-2" },
          ],
        },
        { group: "west", choices: [{ name: "cp-west-1", value: "cp-west-1" }] },
      ]),
    );
    const screen = getScreen();
    expect(screen).toMatch(/── east[\s\S]*◉ cp-east-1[\s\S]*◉ cp-east-2[\s\S]*── west[\s\S]*◉ cp-west-1/);
    events.keypress("down");
    await nextRender();
    events.keypress("space");
    await nextRender();
    events.keypress("enter");
    await expect(answer).resolves.toEqual(["cp-east-1", "cp-west-1"]);
  });

  it.each([
    ["Esc", { name: "escape" }],
    ["Ctrl-C", { name: "c", ctrl: true }],
  ])("%s at any prompt is a clean interruption: INTERRUPTED, exit 130", async (_what, key) => {
    const { answer, events } = await drive(() =>
      prompts.pickMany("Which proxies?", [{ group: "g", choices: [{ name: "a", value: "a" }] }]),
    );
    events.keypress(key);
    await expect(answer).rejects.toMatchObject({ code: "INTERRUPTED", exitStatus: 130 });
  });

  it("steps 5 and 6: confirmations default as asked", async () => {
    const trust = await drive(() => prompts.confirm("Trust all 2 and remember them?", false));
    trust.events.keypress("enter");
    await expect(trust.answer).resolves.toBe(false);
    const go = await drive(() => prompts.confirm("Pull onto 2 proxies now?", true));
    go.events.keypress("enter");
    await expect(go.answer).resolves.toBe(true);
  });

  it("proxies from VCF Operations: 'Install the pack now?' is no by default, yes when typed", async () => {
    const plain = await drive(() => prompts.installNow());
    expect(plain.getScreen()).toContain("Install the pack now?");
    plain.events.keypress("enter");
    await expect(plain.answer).resolves.toBe(false);
    const yes = await drive(() => prompts.installNow());
    yes.events.type("y");
    yes.events.keypress("enter");
    await expect(yes.answer).resolves.toBe(true);
  });
});

describe("the sudo password prompt (become)", () => {
  it("is masked: the typed password never shows, only stars", async () => {
    const { answer, events, getScreen } = await drive(() => prompts.becomePassword("mpsudo@proxies"));
    expect(getScreen()).toMatch(/sudo password for mpsudo@proxies \(become\):/);
    events.type("s3cret-sudo");
    expect(getScreen()).not.toContain("s3cret-sudo");
    expect(getScreen()).toContain("***********");
    events.keypress("enter");
    await expect(answer).resolves.toBe("s3cret-sudo");
  });
});
