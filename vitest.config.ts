import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // The default report, then the plain "N passed, N failed" line CI reads.
    reporters: ["default", "./test/support/plain-summary.ts"],
    // The end-to-end suites share one lab and change its state: one test file at a time.
    fileParallelism: false,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/lab/**"],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "lab",
          include: ["test/lab/**/*.test.ts"],
          globalSetup: ["test/lab/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
