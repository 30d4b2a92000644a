// LaunchCheck: does the MPI world have as many ranks as the launcher started tasks? When it does not, the
// tasks are separate one-rank jobs that each act as rank 0 — each trains alone and all write the same
// checkpoints and metrics — so vt refuses before anything is written.
//
// The classic case is `srun` without `--mpi=pmix` (Slurm's default plugin is `none` unless MpiDefault
// says otherwise): srun starts N tasks but sets none of the PMIx/PMI variables, so every task is a
// singleton. Others: vt linked against another MPI than the `mpirun` that started it, or a PMI-1/2
// launcher (`srun --mpi=pmi2`, MPICH's mpiexec) that Debian's Open MPI does not join.
//
// Which variable states the launcher's count: the launcher nearest to the process wins, so a legitimate
// nesting is never refused —
//   OMPI_COMM_WORLD_SIZE   Open MPI's mpirun/orted started this process (also mpirun inside a Slurm job,
//                          whose orted steps carry Slurm's step variables for the daemons, not the ranks)
//   PMIX_SIZE, PMI_SIZE    a PMIx or PMI-1/2 launcher
//   SLURM_STEP_NUM_TASKS   srun started this process as one task of a step. Only the step's count is
//                          compared: a batch script's SLURM_NTASKS describes the whole job, and one
//                          process there (`vt prepare` before an srun) is legitimate.
// Leaves out: heterogeneous Slurm steps (their per-component counts), which vt does not support.

import Foundation

/// The launcher said one number of tasks and MPI gave this process a world of another size.
public struct LaunchMismatch: Error, CustomStringConvertible, Equatable {
    /// The variable that stated the launcher's count, and its value.
    public let variable: String
    public let tasks: Int
    public let worldSize: Int

    public var description: String {
        "the launcher started \(tasks) tasks (\(variable)=\(tasks)) but MPI gave this process a world of "
            + "\(worldSize) rank\(worldSize == 1 ? "" : "s"), so each task would train alone as rank 0 and all would "
            + "write the same checkpoints; \(remedy)"
    }

    private var remedy: String {
        switch variable {
        case "OMPI_COMM_WORLD_SIZE":
            return "vt is linked against another MPI than the mpirun that started it: use the mpirun of the Open MPI vt was built with"
        case "PMI_SIZE":
            return "Open MPI does not join a PMI-1/PMI-2 launcher (srun --mpi=pmi2, MPICH's mpiexec): launch with srun --mpi=pmix or Open MPI's mpirun"
        default:
            return "launch with srun --mpi=pmix (srun's default, --mpi=none, does not connect the tasks) or with mpirun"
        }
    }
}

public enum LaunchCheck {
    /// The variables that state the launcher's task count, nearest launcher first (see the file comment).
    public static let taskCountVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"]

    /// The launcher's task count and the variable that states it: the first of `taskCountVariables` set
    /// to a positive whole number; nil when no launcher says.
    public static func launcherTasks(environment: [String: String]) -> (variable: String, tasks: Int)? {
        for variable in taskCountVariables {
            guard let text = environment[variable] else { continue }
            if let tasks = Int(text.trimmingCharacters(in: .whitespaces)), tasks >= 1 { return (variable, tasks) }
        }
        return nil
    }

    /// nil when the world matches what the launcher says (or no launcher says anything), else the mismatch.
    public static func mismatch(environment: [String: String], worldSize: Int) -> LaunchMismatch? {
        guard let (variable, tasks) = launcherTasks(environment: environment), tasks != worldSize else { return nil }
        return LaunchMismatch(variable: variable, tasks: tasks, worldSize: worldSize)
    }

    /// This task's index as its launcher numbers it (0 when unknown): with a mismatch every task is rank 0
    /// of its own world, so only the launcher's task 0 prints the message and the others exit quietly.
    public static func launcherIndex(environment: [String: String]) -> Int {
        for variable in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"] {
            if let text = environment[variable], let index = Int(text) { return index }
        }
        return 0
    }
}
