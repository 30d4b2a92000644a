// LaunchCheck's decision, as a pure function of the environment and the world size: which launcher
// variable counts (the nearest launcher first), what is compared, what is left alone (a batch script's
// job-wide SLURM_NTASKS), and the one-line message naming the variable, its value, the world and the fix.
// The end-to-end refusal on the real binary is Tests/TrainingTests/LaunchCheckCommandLineTests.swift.
import Testing
@testable import Distribution

@Suite struct LaunchCheckTests {
    @Test func noLauncherMeansNothingToCompare() {
        #expect(LaunchCheck.mismatch(environment: [:], worldSize: 1) == nil)
        #expect(LaunchCheck.mismatch(environment: ["HOME": "/root"], worldSize: 4) == nil)
    }

    @Test func srunWithoutMPIIsRefused() {
        // `srun -n 2` with --mpi=none: Slurm's step variables, no PMIx/PMI, a world of 1.
        let environment = ["SLURM_JOB_ID": "17", "SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "2",
                           "SLURM_NTASKS": "2", "SLURM_PROCID": "0"]
        let mismatch = LaunchCheck.mismatch(environment: environment, worldSize: 1)
        #expect(mismatch == LaunchMismatch(variable: "SLURM_STEP_NUM_TASKS", tasks: 2, worldSize: 1))
        let text = mismatch?.description ?? ""
        #expect(text.hasPrefix("the launcher started 2 tasks (SLURM_STEP_NUM_TASKS=2) but MPI gave this process a world of 1 rank,"))
        #expect(text.contains("srun --mpi=pmix"))
        #expect(!text.contains("\n"))
    }

    @Test func aMatchingWorldPasses() {
        #expect(LaunchCheck.mismatch(environment: ["SLURM_STEP_NUM_TASKS": "2", "PMIX_RANK": "1"], worldSize: 2) == nil)
        #expect(LaunchCheck.mismatch(environment: ["SLURM_STEP_NUM_TASKS": "1"], worldSize: 1) == nil)
        #expect(LaunchCheck.mismatch(environment: ["OMPI_COMM_WORLD_SIZE": "4"], worldSize: 4) == nil)
    }

    @Test func aBatchScriptsJobWideCountIsNotCompared() {
        // Inside `sbatch --ntasks=32` the batch script itself is one process; `vt prepare` there is fine.
        let environment = ["SLURM_JOB_ID": "17", "SLURM_NTASKS": "32", "SLURM_NNODES": "8", "SLURM_NTASKS_PER_NODE": "4"]
        #expect(LaunchCheck.mismatch(environment: environment, worldSize: 1) == nil)
    }

    @Test func theNearestLauncherWins() {
        // mpirun inside a Slurm step of one task (`srun -n 1 mpirun -np 4 vt …`): mpirun's count counts.
        #expect(LaunchCheck.mismatch(environment: ["SLURM_STEP_NUM_TASKS": "1", "OMPI_COMM_WORLD_SIZE": "4"], worldSize: 4) == nil)
        // mpirun across 2 nodes of an allocation starts its daemons as a 2-task srun step; its ranks may inherit that.
        #expect(LaunchCheck.mismatch(environment: ["SLURM_STEP_NUM_TASKS": "2", "OMPI_COMM_WORLD_SIZE": "8"], worldSize: 8) == nil)
        #expect(LaunchCheck.mismatch(environment: ["SLURM_STEP_NUM_TASKS": "2", "PMI_SIZE": "2"], worldSize: 1)?.variable == "PMI_SIZE")
        #expect(LaunchCheck.mismatch(environment: ["PMIX_SIZE": "3", "PMI_SIZE": "2"], worldSize: 1)?.variable == "PMIX_SIZE")
    }

    @Test func eachLauncherGetsItsOwnRemedy() {
        let mpirun = LaunchMismatch(variable: "OMPI_COMM_WORLD_SIZE", tasks: 4, worldSize: 1).description
        #expect(mpirun.hasPrefix("the launcher started 4 tasks (OMPI_COMM_WORLD_SIZE=4) but MPI gave this process a world of 1 rank,"))
        #expect(mpirun.contains("another MPI than the mpirun that started it"))
        let pmi = LaunchMismatch(variable: "PMI_SIZE", tasks: 2, worldSize: 1).description
        #expect(pmi.contains("srun --mpi=pmi2") && pmi.contains("srun --mpi=pmix"))
        #expect(LaunchMismatch(variable: "SLURM_STEP_NUM_TASKS", tasks: 2, worldSize: 3).description.contains("a world of 3 ranks,"))
    }

    @Test func unreadableCountsAreIgnored() {
        // Not a positive whole number: no launcher count from that variable; the next one is used.
        #expect(LaunchCheck.mismatch(environment: ["SLURM_STEP_NUM_TASKS": "two"], worldSize: 1) == nil)
        #expect(LaunchCheck.mismatch(environment: ["SLURM_STEP_NUM_TASKS": "0"], worldSize: 1) == nil)
        #expect(LaunchCheck.mismatch(environment: ["OMPI_COMM_WORLD_SIZE": "", "SLURM_STEP_NUM_TASKS": "2"], worldSize: 1)?.variable
                == "SLURM_STEP_NUM_TASKS")
    }

    @Test func onlyTheLaunchersTaskZeroReports() {
        #expect(LaunchCheck.launcherIndex(environment: [:]) == 0)
        #expect(LaunchCheck.launcherIndex(environment: ["SLURM_PROCID": "3"]) == 3)
        #expect(LaunchCheck.launcherIndex(environment: ["SLURM_PROCID": "3", "PMIX_RANK": "1"]) == 1)
        #expect(LaunchCheck.launcherIndex(environment: ["OMPI_COMM_WORLD_RANK": "0", "SLURM_PROCID": "5"]) == 0)
    }
}
