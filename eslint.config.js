// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "node_modules/",
      "coverage/",
      ".lab/",
      ".lab-*/",
      "fixtures/",
      "release/",
      "release.building-*/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "error",
    },
  },
  {
    // A function a newcomer can read in one screen: the second time a step grows past it, split it.
    files: ["src/**"],
    rules: { "max-lines-per-function": ["error", { max: 90 }] },
  },
  {
    files: ["src/cli/**", "scripts/**", "bench/**", "test/**"],
    rules: { "no-console": "off" },
  },
  {
    // Plain JavaScript preloaded into the built binary by a test (NODE_OPTIONS=--import), outside the TS project.
    files: ["eslint.config.js", ".dependency-cruiser.mjs", "test/support/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
);
